// Command autocv is the command-line client of the AutoCV REST API, for
// operators and scripts: datasets, training, reports, validation, cloud
// services, API keys, offline SDKs and the device fleet.
//
//	autocv [--server URL] [--token T] [--json] COMMAND [ARGS]
//
// Every setting also comes from the environment (AUTOCV_SERVER,
// AUTOCV_TOKEN); `autocv login` keeps a session token in the user's config
// folder. Tables go to stdout, progress to stderr; --json prints the
// server's answer as JSON, for scripts. Exit status: 0 ok, 1 the call
// failed, 2 the command line was wrong.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	a := newApp(ctx, stdin, stdout, stderr, getenv)
	err := a.dispatch(args)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "autocv:", ue.msg)
		if ue.usage != "" {
			fmt.Fprintln(stderr, ue.usage)
		}
		return 2
	case ctx.Err() != nil:
		fmt.Fprintln(stderr, "autocv: interrupted")
		return 1
	default:
		fmt.Fprintln(stderr, "autocv:", a.explain(err))
		return 1
	}
}

// command is one leaf or group of the command tree.
type command struct {
	name  string
	usage string // one line: arguments and flags
	run   func(a *app, args []string) error
	sub   []command
}

func commands() []command {
	return []command{
		{name: "login", usage: "login --server URL --username U   (password from AUTOCV_PASSWORD or stdin)", run: (*app).login},
		{name: "logout", usage: "logout", run: (*app).logout},
		{name: "whoami", usage: "whoami", run: (*app).whoami},
		{name: "datasets", sub: []command{
			{name: "list", usage: "datasets list [--page N]", run: (*app).datasetsList},
			{name: "get", usage: "datasets get ID", run: (*app).datasetsGet},
			{name: "create", usage: "datasets create --name N --zip FILE [--wait]", run: (*app).datasetsCreate},
			{name: "append", usage: "datasets append ID --zip FILE [--wait]", run: (*app).datasetsAppend},
			{name: "rename", usage: "datasets rename ID NAME", run: (*app).datasetsRename},
			{name: "delete", usage: "datasets delete ID", run: (*app).datasetsDelete},
			{name: "images", usage: "datasets images ID LABEL [--page N] [--page-size N]", run: (*app).datasetsImages},
			{name: "add-images", usage: "datasets add-images ID LABEL FILE...", run: (*app).datasetsAddImages},
		}},
		{name: "models", sub: []command{
			{name: "list", usage: "models list [--page N]", run: (*app).modelsList},
			{name: "get", usage: "models get ID", run: (*app).modelsGet},
			{name: "create", usage: "models create --name N [--contact C] [--description D]", run: (*app).modelsCreate},
			{name: "delete", usage: "models delete ID", run: (*app).modelsDelete},
		}},
		{name: "train", usage: "train MODEL_ID --type cloud-general[,offline-high-performance…] [--metric f1] --data DATASET_ID:label1,label2 [--data …] [--wait]", run: (*app).train},
		{name: "versions", sub: []command{
			{name: "get", usage: "versions get MODEL V", run: (*app).versionsGet},
			{name: "stop", usage: "versions stop MODEL V", run: (*app).versionsStop},
			{name: "report", usage: "versions report MODEL V [--out FILE]", run: (*app).versionsReport},
			{name: "package", usage: "versions package MODEL V --out FILE", run: (*app).versionsPackage},
		}},
		{name: "validate", usage: "validate MODEL V IMAGE... [--top-k N] [--timeout 2m]", run: (*app).validate},
		{name: "services", sub: []command{
			{name: "list", usage: "services list", run: (*app).servicesList},
			{name: "get", usage: "services get ID", run: (*app).servicesGet},
			{name: "create", usage: "services create --name N --path P --model M --version V", run: (*app).servicesCreate},
			{name: "online", usage: "services online ID", run: (*app).servicesOnline},
			{name: "offline", usage: "services offline ID", run: (*app).servicesOffline},
			{name: "switch", usage: "services switch ID --version V", run: (*app).servicesSwitch},
			{name: "delete", usage: "services delete ID", run: (*app).servicesDelete},
		}},
		{name: "infer", usage: "infer PATH IMAGE... [--top-k N]   (uses the API key in AUTOCV_TOKEN)", run: (*app).infer},
		{name: "apikeys", sub: []command{
			{name: "list", usage: "apikeys list", run: (*app).apikeysList},
			{name: "create", usage: "apikeys create NAME [--scopes infer|full|keys,…] [--services PATH,…]", run: (*app).apikeysCreate},
			{name: "delete", usage: "apikeys delete ID", run: (*app).apikeysDelete},
		}},
		{name: "trainer-tokens", sub: []command{
			{name: "create", usage: "trainer-tokens create NAME   (admin)", run: (*app).trainerTokensCreate},
		}},
		{name: "sdk", sub: []command{
			{name: "request", usage: "sdk request MODEL V --platform linux-amd64|windows-amd64|linux-arm64 [--wait]", run: (*app).sdkRequest},
			{name: "get", usage: "sdk get MODEL V PLATFORM", run: (*app).sdkGet},
			{name: "download", usage: "sdk download MODEL V PLATFORM --out FILE", run: (*app).sdkDownload},
		}},
		{name: "devices", sub: []command{
			{name: "list", usage: "devices list [--group G]   (admin)", run: (*app).devicesList},
			{name: "desired", usage: "devices desired DEVICE_ID --model M --version V   (admin)", run: (*app).devicesDesired},
		}},
		{name: "groups", sub: []command{
			{name: "list", usage: "groups list   (admin)", run: (*app).groupsList},
			{name: "create", usage: "groups create NAME [--description D]   (admin)", run: (*app).groupsCreate},
			{name: "get", usage: "groups get NAME   (admin)", run: (*app).groupsGet},
		}},
		{name: "rollouts", sub: []command{
			{name: "create", usage: "rollouts create --model M --version V --group G [--strategy all|canary|waves] [--canary N | --canary-percent P] [--wave-size N] [--pause 1m] [--failure-budget N] [--health-timeout 10m] [--wait]   (admin)", run: (*app).rolloutsCreate},
			{name: "list", usage: "rollouts list   (admin)", run: (*app).rolloutsList},
			{name: "get", usage: "rollouts get ID   (admin)", run: (*app).rolloutsGet},
			{name: "pause", usage: "rollouts pause ID   (admin)", run: rolloutsAction("pause")},
			{name: "resume", usage: "rollouts resume ID   (admin)", run: rolloutsAction("resume")},
			{name: "abort", usage: "rollouts abort ID   (admin)", run: rolloutsAction("abort")},
			{name: "rollback", usage: "rollouts rollback ID   (admin)", run: rolloutsAction("rollback")},
		}},
		{name: "enrollment-tokens", sub: []command{
			{name: "list", usage: "enrollment-tokens list   (admin)", run: (*app).enrollmentTokensList},
			{name: "create", usage: "enrollment-tokens create --group G [--uses N] [--expires-in 24h]   (admin)", run: (*app).enrollmentTokensCreate},
			{name: "delete", usage: "enrollment-tokens delete ID   (admin)", run: (*app).enrollmentTokensDelete},
		}},
		{name: "version", usage: "version", run: (*app).version},
	}
}

// globalHelp is the top-level usage text.
func globalHelp() string {
	s := "usage: autocv [--server URL] [--token T] [--json] COMMAND [ARGS]\n\ncommands:\n"
	for _, c := range commands() {
		if c.sub == nil {
			s += "  autocv " + c.usage + "\n"
			continue
		}
		for _, sc := range c.sub {
			s += "  autocv " + sc.usage + "\n"
		}
	}
	s += `
settings (flag, or environment):
  --server URL   AUTOCV_SERVER   the control plane (default ` + defaultServer + `, or the one you logged in to)
  --token T      AUTOCV_TOKEN    an API key or session token (default: the one saved by autocv login)
  --json                         print the server's answer as JSON
Flags may come before or after the arguments.`
	return s
}

// dispatch finds the command named by args and runs it.
func (a *app) dispatch(args []string) error {
	fs := a.flagSet("autocv", globalHelp())
	rest, err := a.parseLeading(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 || rest[0] == "help" {
		if len(rest) == 0 {
			return &usageError{msg: "no command given", usage: globalHelp()}
		}
		fmt.Fprintln(a.stdout, globalHelp())
		return errHelp
	}
	cmds := commands()
	for _, c := range cmds {
		if c.name != rest[0] {
			continue
		}
		if c.sub == nil {
			a.usage = "usage: autocv " + c.usage
			return c.run(a, rest[1:])
		}
		groupUsage := "usage:"
		for _, sc := range c.sub {
			groupUsage += "\n  autocv " + sc.usage
		}
		if len(rest) < 2 {
			return &usageError{msg: c.name + ": which one?", usage: groupUsage}
		}
		for _, sc := range c.sub {
			if sc.name == rest[1] {
				a.usage = "usage: autocv " + sc.usage
				return sc.run(a, rest[2:])
			}
		}
		return &usageError{msg: fmt.Sprintf("%s: unknown subcommand %q", c.name, rest[1]), usage: groupUsage}
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q (autocv help lists them)", rest[0])}
}
