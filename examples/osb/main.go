package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/brokerkit/brokerkit/broker/brokertest"
	"github.com/brokerkit/brokerkit/catalog"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// Environment variables read when the matching flag is not given.
const (
	envURL      = "OSB_URL"
	envUser     = "OSB_USER"
	envPassword = "OSB_PASSWORD"
)

// requestTimeout bounds one HTTP exchange; -timeout bounds the command.
const requestTimeout = time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// env is what a run takes from its process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// pollInterval is the wait between last_operation polls when the
	// broker sends no Retry-After; the client's default (1s) when zero.
	pollInterval time.Duration
}

// globals are the flags every command accepts.
type globals struct {
	url, user, password, apiVersion string
	output                          string
	timeout                         time.Duration
}

// register adds the global flags to fs. Every command's flag set gets them
// too, bound to the same variables, so they may come before the command or
// after its arguments. Defaults from the environment are applied after
// parsing, so that usage never prints the password.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.url, "url", g.url, "the broker's base URL (env "+envURL+")")
	fs.StringVar(&g.user, "user", g.user, "basic-auth user name (env "+envUser+")")
	fs.Var(secretFlag{&g.password}, "password", "basic-auth password (env "+envPassword+"); never printed")
	fs.StringVar(&g.apiVersion, "api-version", g.apiVersion, "X-Broker-API-Version to send")
	fs.StringVar(&g.output, "o", g.output, "output format: table, json, or secret (bind and get-binding)")
	fs.DurationVar(&g.timeout, "timeout", g.timeout, "bound on the whole command, polling included")
}

// secretFlag is a string flag whose value the flag package never prints:
// its String, which usage shows as the default, is always empty.
type secretFlag struct{ p *string }

func (s secretFlag) String() string { return "" }

func (s secretFlag) Set(v string) error {
	*s.p = v
	return nil
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// failedError is an operation that ended "failed", or a broker answer that
// is an error; its message is already complete.
type failedError struct{ msg string }

func (e *failedError) Error() string { return e.msg }

// command is one subcommand.
type command struct {
	name, args, summary string
	// secretOutput allows -o secret.
	secretOutput bool
	run          func(c *cli, ctx context.Context, args []string) error
}

var commands = []command{
	{name: "catalog", summary: "list the services and plans", run: (*cli).catalog},
	{name: "provision", args: "<instance-id> <service> <plan> [-p key=value ...] [-params JSON] [-context JSON] [-org GUID] [-space GUID] [-wait]",
		summary: "create a service instance", run: (*cli).provision},
	{name: "update", args: "<instance-id> [-service S] [-plan P] [-p key=value ...] [-params JSON] [-context JSON] [-wait]",
		summary: "change an instance's plan or parameters", run: (*cli).update},
	{name: "deprovision", args: "<instance-id> [-service S -plan P] [-wait]", summary: "delete a service instance", run: (*cli).deprovision},
	{name: "last-operation", args: "<instance-id> [-operation TOKEN] [-binding BINDING-ID] [-service S -plan P]",
		summary: "show the state of an instance's (or a binding's) last operation", run: (*cli).lastOperation},
	{name: "get-instance", args: "<instance-id> [-service S -plan P]", summary: "show a service instance", run: (*cli).getInstance},
	{name: "bind", args: "<instance-id> <binding-id> [-service S -plan P] [-p key=value ...] [-params JSON] [-app-guid G] [-wait] [-secret-name N] [-namespace NS]",
		summary: "create a binding and show its credentials", secretOutput: true, run: (*cli).bind},
	{name: "get-binding", args: "<instance-id> <binding-id> [-service S -plan P] [-secret-name N] [-namespace NS]",
		summary: "show a binding and its credentials", secretOutput: true, run: (*cli).getBinding},
	{name: "unbind", args: "<instance-id> <binding-id> [-service S -plan P] [-wait]", summary: "delete a binding", run: (*cli).unbind},
}

// cli is one invocation.
type cli struct {
	g      globals
	stdout io.Writer
	stderr io.Writer
	// progress receives the human lines: stdout for table output, stderr
	// when stdout must hold only a JSON document or a manifest.
	progress io.Writer
	client   *brokertest.Client
	cat      *catalog.Catalog
	getenv   func(string) string
	cmd      command
	// pollInterval is env.pollInterval.
	pollInterval time.Duration
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	stdout, stderr := e.stdout, e.stderr
	c := &cli{g: globals{apiVersion: "2.17", output: "table", timeout: 10 * time.Minute},
		stdout: stdout, stderr: stderr, getenv: e.getenv, pollInterval: e.pollInterval}
	fs := flag.NewFlagSet("osb", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.g.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(stdout, fs)
			return exitOK
		}
		fmt.Fprintf(stderr, "osb: %v\n", err)
		c.usage(stderr, fs)
		return exitUsage
	}
	if fs.NArg() == 0 {
		c.usage(stderr, fs)
		return exitUsage
	}
	name := fs.Arg(0)
	if name == "help" {
		c.usage(stdout, fs)
		return exitOK
	}
	i := slices.IndexFunc(commands, func(cmd command) bool { return cmd.name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "osb: unknown command %q\n", name)
		c.usage(stderr, fs)
		return exitUsage
	}
	cmd := commands[i]
	c.cmd = cmd
	err := cmd.run(c, ctx, fs.Args()[1:])
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "osb %s: %v\nusage: osb %s %s\n", cmd.name, err, cmd.name, cmd.args)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "osb %s: %v\n", cmd.name, err)
		return exitError
	}
}

func (c *cli) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: osb [global flags] <command> [args] [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, cmd := range commands {
		fmt.Fprintf(w, "  %-15s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nglobal flags (also accepted after a command's arguments):")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprintln(w, "\nrun 'osb <command> -h' for a command's flags")
}

// flags returns the flag set of the current command, with the global
// flags registered.
func (c *cli) flags() *flag.FlagSet {
	fs := flag.NewFlagSet("osb "+c.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.g.register(fs)
	return fs
}

// parse parses args with fs, allowing flags before, between and after the
// positional arguments (Go's flag package stops at the first positional
// one). Everything after "--" is positional. It checks that there are
// exactly want positional arguments, named by the command's usage.
func (c *cli) parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintf(c.stdout, "usage: osb %s %s\n\nflags:\n", c.cmd.name, c.cmd.args)
				fs.SetOutput(c.stdout)
				fs.PrintDefaults()
				return nil, err
			}
			return nil, &usageError{msg: err.Error()}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != want {
		return nil, usagef("want %d argument(s), got %d", want, len(pos))
	}
	return pos, nil
}

// connect checks the global flags and builds the client, and returns ctx
// bounded by -timeout. It runs after the command's flags are parsed.
func (c *cli) connect(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if c.g.url == "" {
		c.g.url = c.getenv(envURL)
	}
	if c.g.user == "" {
		c.g.user = c.getenv(envUser)
	}
	if c.g.password == "" {
		c.g.password = c.getenv(envPassword)
	}
	if c.g.url == "" {
		return nil, nil, usagef("no broker URL: give -url or set %s", envURL)
	}
	switch c.g.output {
	case "table", "json":
	case "secret":
		if !c.cmd.secretOutput {
			return nil, nil, usagef("-o secret is only for bind and get-binding")
		}
	default:
		return nil, nil, usagef("-o must be table, json or secret, not %q", c.g.output)
	}
	if c.g.timeout <= 0 {
		return nil, nil, usagef("-timeout must be positive")
	}
	c.progress = c.stdout
	if c.g.output != "table" {
		c.progress = c.stderr
	}
	c.client = brokertest.NewClient(c.g.url, brokertest.ClientOptions{
		Username: c.g.user, Password: c.g.password, APIVersion: c.g.apiVersion,
		HTTPClient: &http.Client{Timeout: requestTimeout},
	})
	ctx, cancel := context.WithTimeout(ctx, c.g.timeout)
	return ctx, cancel, nil
}

// say prints a progress line.
func (c *cli) say(format string, args ...any) {
	fmt.Fprintf(c.progress, format+"\n", args...)
}

// paramsFlag collects -p key=value pairs.
type paramsFlag struct{ pairs [][2]string }

func (p *paramsFlag) String() string { return "" }

func (p *paramsFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return errors.New("want key=value")
	}
	p.pairs = append(p.pairs, [2]string{k, v})
	return nil
}

// parameters merges -params (a JSON object) and the -p pairs over it. A -p
// value is JSON when it parses as JSON, else a string. Numbers stay exact.
func parameters(paramsJSON string, p *paramsFlag) (map[string]any, error) {
	out := map[string]any{}
	if paramsJSON != "" {
		dec := json.NewDecoder(strings.NewReader(paramsJSON))
		dec.UseNumber()
		if err := dec.Decode(&out); err != nil || dec.More() {
			// The text may hold secrets: the error names no value.
			return nil, usagef("-params is not a JSON object")
		}
		if out == nil {
			return nil, usagef("-params is not a JSON object")
		}
	}
	for _, kv := range p.pairs {
		out[kv[0]] = jsonOrString(kv[1])
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func jsonOrString(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return s
	}
	return v
}

// jsonObject parses an optional JSON object flag, such as -context.
func jsonObject(flagName, s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil || out == nil {
		return nil, usagef("-%s is not a JSON object", flagName)
	}
	return out, nil
}
