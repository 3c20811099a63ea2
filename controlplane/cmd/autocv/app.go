package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

const defaultServer = "http://127.0.0.1:8080"

// app is one invocation: where output goes, the settings and the HTTP
// client.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	hc     *http.Client

	// From flags; "" when not given.
	serverFlag, tokenFlag string
	jsonOut               bool
	usage                 string // the running command's usage line

	resolved      bool
	server, token string
}

func newApp(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	// No overall client timeout: package and SDK downloads and zip
	// uploads take as long as the link needs. JSON calls get a context
	// deadline instead (see callTimeout).
	return &app{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		hc: &http.Client{Transport: tr}}
}

// usageError is a wrong command line: exit status 2.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

// errHelp ends a command that printed its help.
var errHelp = errors.New("help shown")

func (a *app) usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...), usage: a.usage}
}

// flagSet makes a flag set with the settings every command accepts.
func (a *app) flagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&a.serverFlag, "server", a.serverFlag, "control plane `URL` (AUTOCV_SERVER)")
	fs.StringVar(&a.tokenFlag, "token", a.tokenFlag, "API key or session `token` (AUTOCV_TOKEN)")
	fs.BoolVar(&a.jsonOut, "json", a.jsonOut, "print the server's answer as JSON")
	return fs
}

func (a *app) flagError(fs *flag.FlagSet, err error) error {
	var b strings.Builder
	b.WriteString(a.usage)
	b.WriteString("\nflags:\n")
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(a.stdout, b.String())
		return errHelp
	}
	return &usageError{msg: err.Error(), usage: strings.TrimRight(b.String(), "\n")}
}

// parseLeading parses only the flags before the first argument (the
// top-level flags before the command name).
func (a *app) parseLeading(fs *flag.FlagSet, args []string) ([]string, error) {
	a.usage = globalHelp()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(a.stdout, globalHelp())
			return nil, errHelp
		}
		return nil, &usageError{msg: err.Error(), usage: globalHelp()}
	}
	return fs.Args(), nil
}

// parse parses flags anywhere among the arguments (the flag package stops
// at the first argument; people write `autocv datasets get ID --json`) and
// checks the number of positional arguments: at least min, at most max
// (max < 0: no limit). "--" ends the flags.
func (a *app) parse(fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, a.flagError(fs, err)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < min:
		return nil, a.usagef("missing arguments")
	case max >= 0 && len(pos) > max:
		return nil, a.usagef("too many arguments: %s", strings.Join(pos[max:], " "))
	}
	return pos, nil
}

// resolve works out the server and the token: flag, then environment,
// then what `autocv login` saved (its token only for the server it was
// issued by), then the default server.
func (a *app) resolve() error {
	if a.resolved {
		return nil
	}
	creds, _ := loadCredentials() // a missing or unreadable file means "not logged in"
	server := firstOf(a.serverFlag, a.getenv("AUTOCV_SERVER"))
	if server == "" && creds != nil {
		server = creds.Server
	}
	if server == "" {
		server = defaultServer
	}
	norm, err := normalizeServer(server)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	token := firstOf(a.tokenFlag, a.getenv("AUTOCV_TOKEN"))
	if token == "" && creds != nil && creds.Server == norm {
		token = creds.Token
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return &usageError{msg: "the token has white space in it; check AUTOCV_TOKEN or --token"}
	}
	a.server, a.token, a.resolved = norm, token, true
	return nil
}

func firstOf(xs ...string) string {
	for _, x := range xs {
		if x != "" {
			return x
		}
	}
	return ""
}

// normalizeServer checks a server URL and drops a trailing slash.
func normalizeServer(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("server %q is not an http:// or https:// URL (set --server or AUTOCV_SERVER, e.g. %s)", s, defaultServer)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("server %q: give just scheme, host, port and an optional path prefix", s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// emitJSON writes v as indented JSON.
func (a *app) emitJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// output prints v: as JSON with --json, else with print.
func (a *app) output(v any, print func()) error {
	if a.jsonOut {
		return a.emitJSON(v)
	}
	print()
	return nil
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func (a *app) table(headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)}
	t.row(toAny(headers)...)
	return t
}

func toAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func (t *table) row(cols ...any) {
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() { t.tw.Flush() }

// Formatting of values in tables.

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// fmtWhen is fmtTime of an optional time.
func fmtWhen(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return fmtTime(*t)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// isTerminal reports whether w is a terminal (progress lines redraw in
// place there, and print one line per step elsewhere).
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// sleep waits d or until the command is interrupted.
func (a *app) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.ctx.Done():
		return a.ctx.Err()
	case <-t.C:
		return nil
	}
}
