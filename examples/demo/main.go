package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/brokerkit/brokerkit/broker/brokertest"
)

// The broker's fixed settings: the walkthrough's region, and the stack
// prefix and broker ID the demo checks stacks by.
const (
	region      = "us-east-1"
	stackPrefix = "brokerkit"
	brokerID    = "brokerkit"
	brokerUser  = "demo-platform"

	// The operator's dummy credentials: moto accepts any.
	operatorKeyID  = "AKIABROKERKITDEMO000"
	operatorSecret = "brokerkit-demo-operator-secret"
)

// EnvMotoEndpoint names a running moto server to use instead of starting
// one; the same variable as the library's tests read.
const EnvMotoEndpoint = "BROKERKIT_MOTO_ENDPOINT"

// options configure run. The zero value starts moto_server from PATH,
// builds the broker with the go command from PATH, keeps the children's
// output for failure messages only, and gives the whole demo 5 minutes.
type options struct {
	// MotoServer is the moto_server program, looked up on PATH when it
	// has no slash; "moto_server" when empty.
	MotoServer string
	// MotoEndpoint, if not empty, is a running moto server to use instead
	// of starting one.
	MotoEndpoint string
	// Go is the go command; "go" when empty.
	Go string
	// Logs, if not nil, receives the output of moto_server and the broker
	// as it comes, each line prefixed with the program's name.
	Logs io.Writer
	// Timeout bounds the whole demo; 5 minutes when zero.
	Timeout time.Duration
	// PollInterval is the wait between last_operation polls when the
	// broker sends no Retry-After; 500ms when zero.
	PollInterval time.Duration
}

func (o options) withDefaults() options {
	if o.MotoServer == "" {
		o.MotoServer = "moto_server"
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	return o
}

func main() {
	verbose := flag.Bool("v", false, "copy the output of moto_server and the broker to standard error")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on the whole demo")
	endpoint := flag.String("moto-endpoint", os.Getenv(EnvMotoEndpoint), "a running moto server to use instead of starting one (env "+EnvMotoEndpoint+")")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "demo: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	opts := options{MotoEndpoint: *endpoint, Timeout: *timeout}
	if *verbose {
		opts.Logs = os.Stderr
	}
	// Ctrl-C or a TERM cancels the context: the step in progress fails,
	// and run stops the children before returning.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, opts)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err != nil && interrupted:
		fmt.Fprintf(os.Stderr, "\ndemo interrupted (everything it started is stopped): %v\n", err)
		os.Exit(1)
	case err != nil:
		fmt.Fprintf(os.Stderr, "\ndemo FAILED: %v\n", err)
		os.Exit(1)
	}
}

// run runs the demo, writing its story to out. It returns only after it
// has stopped every process it started and removed its temporary
// directory, whether a step failed or ctx ended.
func run(ctx context.Context, out io.Writer, opts options) (err error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	p := &printer{w: out}

	p.title("brokerkit demo: the AWS Service Broker's SQS walkthrough, end to end, with moto standing in for AWS")

	var motoPath string
	if opts.MotoEndpoint == "" {
		motoPath, err = exec.LookPath(opts.MotoServer)
		if err != nil {
			return fmt.Errorf("%s not found on PATH: install moto (pip install 'moto[server]'), or set %s to a running moto server: %w",
				opts.MotoServer, EnvMotoEndpoint, err)
		}
	}
	root, err := moduleRoot(ctx, opts.Go)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "brokerkit-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	p.section("setup")
	start := time.Now()
	bin, err := buildBroker(ctx, opts.Go, root, tmp)
	if err != nil {
		return err
	}
	p.say("built examples/awsbroker (%s)", since(start))

	motoURL := opts.MotoEndpoint
	if motoURL == "" {
		start = time.Now()
		moto, url, err := startMoto(ctx, motoPath, opts.Logs)
		if err != nil {
			return err
		}
		defer func() {
			moto.stop(5 * time.Second)
			p.say("stopped moto_server")
		}()
		motoURL = url
		p.say("moto_server answers on %s (%s)", motoURL, since(start))
	} else {
		p.say("using the moto server at %s", motoURL)
	}

	password, err := randomHex(16)
	if err != nil {
		return err
	}
	start = time.Now()
	b, brokerURL, err := startBroker(ctx, bin, tmp, motoURL, password, opts.Logs)
	if err != nil {
		return err
	}
	defer func() {
		// A failed step is easier to understand with the broker's side.
		if err != nil && opts.Logs == nil {
			if s := b.output.String(); s != "" {
				p.say("the broker's output ends with:\n%s", s)
			}
		}
		b.stop(15 * time.Second) // time to persist its state
		p.say("stopped the broker")
	}()
	p.say("the broker answers on %s (%s), its data in %s", brokerURL, since(start), filepath.Join(tmp, "data"))

	w := &walkthrough{
		p:       p,
		client:  brokertest.NewClient(brokerURL, brokertest.ClientOptions{Username: brokerUser, Password: password}),
		motoURL: motoURL,
		aws:     operatorConfig(motoURL),
		poll:    brokertest.PollOptions{Interval: opts.PollInterval, MaxInterval: 5 * time.Second, Timeout: 3 * time.Minute},
	}
	if opts.MotoEndpoint != "" {
		// A moto server the demo started dies with what a failed run left
		// in it; another one keeps it.
		defer w.cleanup(context.WithoutCancel(ctx))
	}
	if err := w.run(ctx); err != nil {
		return err
	}
	p.section("done")
	p.say("every step succeeded")
	return nil
}

// startBroker starts the example broker on a free loopback port and waits
// until GET /v2/catalog answers 200.
func startBroker(ctx context.Context, bin, tmp, motoURL, password string, logs io.Writer) (*proc, string, error) {
	dataDir := filepath.Join(tmp, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	env := childEnv(
		"BROKER_DATA_DIR="+dataDir,
		// The platform's credentials, by the environment rather than
		// -users, which anyone on the machine could read with ps.
		"BROKER_USERS="+brokerUser+":"+password,
		"AWS_ENDPOINT_URL="+motoURL,
		"AWS_ACCESS_KEY_ID="+operatorKeyID,
		"AWS_SECRET_ACCESS_KEY="+operatorSecret,
		"AWS_REGION="+region,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		url := "http://127.0.0.1:" + strconv.Itoa(port)
		p, err := startProc("awsbroker", bin, []string{
			"-listen", "127.0.0.1:" + strconv.Itoa(port),
			"-state", filepath.Join(dataDir, "state.db"),
			"-region", region,
			"-stack-prefix", stackPrefix,
			"-broker-id", brokerID,
		}, env, logs)
		if err != nil {
			return nil, "", err
		}
		c := brokertest.NewClient(url, brokertest.ClientOptions{Username: brokerUser, Password: password})
		err = p.waitReady(ctx, 60*time.Second, func(ctx context.Context) error {
			resp, err := c.Catalog(ctx)
			if err != nil {
				return err
			}
			return resp.Err()
		})
		if err == nil {
			return p, url, nil
		}
		p.stop(5 * time.Second)
		if attempt == 3 || !p.addressInUse() {
			return nil, "", err
		}
	}
}

// operatorConfig is the AWS configuration with which the demo looks at
// moto as the operator would look at the account: the broker's dummy
// credentials. It reads nothing from the environment or shared files.
func operatorConfig(motoURL string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(operatorKeyID, operatorSecret, ""),
		BaseEndpoint: aws.String(motoURL),
		HTTPClient:   awshttp.NewBuildableClient(),
	}
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func since(t time.Time) string {
	return time.Since(t).Round(100 * time.Millisecond).String()
}

// printer writes the demo's story.
type printer struct{ w io.Writer }

func (p *printer) title(s string) { fmt.Fprintf(p.w, "%s\n", s) }

func (p *printer) section(s string) { fmt.Fprintf(p.w, "\n== %s\n", s) }

func (p *printer) say(format string, args ...any) {
	fmt.Fprintf(p.w, "   "+format+"\n", args...)
}

// errStep names a failed step.
func errStep(step string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", step, err)
}
