package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/autocv/autocv/internal/atomicfile"
	"github.com/autocv/autocv/internal/buildinfo"
	"github.com/autocv/autocv/protocol/api"
	"github.com/autocv/autocv/protocol/api/client"
)

// credentials is what `autocv login` saves: a session token for one
// server. The file is the user's own (mode 0600): it is as good as the
// password until the session expires or `autocv logout` ends it.
type credentials struct {
	Server    string    `json:"server"`
	Username  string    `json:"username"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// credentialsPath is <user config dir>/autocv/credentials.json
// (~/.config/autocv on Linux, %AppData%\autocv on Windows).
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config folder to keep the login in: %w (set AUTOCV_TOKEN instead)", err)
	}
	return filepath.Join(dir, "autocv", "credentials.json"), nil
}

// loadCredentials returns the saved login, or nil when there is none.
func loadCredentials() (*credentials, error) {
	p, err := credentialsPath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v); run autocv login again", p, err)
	}
	if !c.ExpiresAt.IsZero() && time.Now().After(c.ExpiresAt) {
		return nil, nil
	}
	return &c, nil
}

func saveCredentials(c *credentials) (string, error) {
	p, err := credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("saving the login: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(p, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("saving the login: %w", err)
	}
	return p, nil
}

func (a *app) login(args []string) error {
	fs := a.flagSet("login", a.usage)
	username := fs.String("username", "", "account `name` (AUTOCV_USERNAME)")
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	user := firstOf(*username, a.getenv("AUTOCV_USERNAME"))
	if user == "" {
		return a.usagef("--username is required")
	}
	password := a.getenv("AUTOCV_PASSWORD")
	if password == "" {
		if isTerminal(a.stdin) {
			fmt.Fprint(a.stderr, "password for "+user+": ")
		}
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && (!errors.Is(err, io.EOF) || line == "") {
			return a.usagef("no password: set AUTOCV_PASSWORD or pipe it on stdin")
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if password == "" {
		return a.usagef("the password is empty")
	}
	if err := a.resolve(); err != nil {
		return err
	}
	a.token = "" // log in afresh, whatever token the environment holds
	c, err := a.api()
	if err != nil {
		return err
	}
	out, err := c.Login(a.ctx, api.LoginRequest{Username: user, Password: password})
	if err != nil {
		return err
	}
	if out.Token == "" {
		return fmt.Errorf("the server answered the login without a token")
	}
	p, err := saveCredentials(&credentials{Server: a.server, Username: out.User.Username, Token: out.Token, ExpiresAt: out.ExpiresAt})
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.emitJSON(out)
	}
	role := ""
	if out.User.Admin {
		role = " (admin)"
	}
	fmt.Fprintf(a.stdout, "logged in to %s as %s%s; session saved in %s until %s\n", a.server, out.User.Username, role, p, fmtTime(out.ExpiresAt))
	return nil
}

func (a *app) logout(args []string) error {
	fs := a.flagSet("logout", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	if err := a.resolve(); err != nil {
		return err
	}
	creds, _ := loadCredentials()
	// The saved session is the one to end, whatever --token or
	// AUTOCV_TOKEN say (an API key has no session).
	token := a.token
	if creds != nil && creds.Server == a.server && creds.Token != "" {
		token = creds.Token
	}
	var callErr error
	if token != "" {
		c, err := a.api()
		if err != nil {
			return err
		}
		c.Token = token
		callErr = c.Logout(a.ctx)
		var ae *client.Error
		if errors.As(callErr, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
			callErr = nil // expired, revoked, or an API key: no session to end
		}
	}
	if creds != nil && creds.Server == a.server {
		p, _ := credentialsPath()
		if err := os.Remove(p); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("removing the saved login: %w", err)
		}
	}
	if callErr != nil {
		return callErr
	}
	if !a.jsonOut {
		fmt.Fprintln(a.stdout, "logged out of", a.server)
	}
	return nil
}

func (a *app) whoami(args []string) error {
	fs := a.flagSet("whoami", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	c, err := a.api()
	if err != nil {
		return err
	}
	me, err := c.Me(a.ctx)
	if err != nil {
		return err
	}
	if a.jsonOut {
		return a.emitJSON(me)
	}
	role := "user"
	if me.Admin {
		role = "admin"
	}
	fmt.Fprintf(a.stdout, "%s (%s, id %s) at %s\n", me.Username, role, me.ID, a.server)
	return nil
}

func (a *app) version(args []string) error {
	fs := a.flagSet("version", a.usage)
	if _, err := a.parse(fs, args, 0, 0); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "autocv", buildinfo.String())
	return nil
}
