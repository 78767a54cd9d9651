// Command awsbroker is a complete Open Service Broker (OSB API v2.17) that
// provisions AWS services through CloudFormation, built only from
// brokerkit's public API.
//
// Each service instance is one CloudFormation stack made from a template
// in a directory (by default the SQS, SNS, S3 and DynamoDB templates
// built into the program); the catalog is read from the templates'
// AWS::ServiceBroker::Specification metadata. Operations are recorded in
// a bbolt file (or, for several replicas, a DynamoDB table:
// -dynamodb-table) before CloudFormation is called, polled in the
// background and resumed after a restart. Each binding is a CloudFormation
// stack too, of the service's binding template (an IAM user allowed only
// the data-plane actions on the instance's resources), run the same way
// by a second tracker (broker.TrackedBindings), plus one access key
// (provisioner/accesskeys) whose secret is sealed in the binding's record;
// its credentials are the instance's and the binding's outputs with
// AccessKeyId and SecretAccessKey. With -allow-target-account, users may
// put an instance (and so its bindings) in another AWS account.
//
//	BROKER_USERS=platform:secret AWS_REGION=us-east-1 awsbroker
//	awsbroker -print-catalog -templates ./my-templates
//
// Every flag falls back to an environment variable (see README.md or -h).
// A bad value is reported, naming the flag and the variable, with exit
// code 2, before anything starts. SIGINT and SIGTERM stop it gracefully:
// it stops accepting requests, lets those in progress finish (for up to
// 20 seconds), stops the operation tracker and closes its files.
package main

import (
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awsdynamodb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/time/rate"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
	"github.com/brokerkit/brokerkit/provisioner/store/dynamodb"
)

// The exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // a failure at run time: AWS unreachable, a file locked, a port taken
	exitUsage   = 2 // a bad flag or environment value; nothing was started
)

// Server timeouts. Every operation is asynchronous, so requests are
// short; WriteTimeout is generous for slow stores.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 20 * time.Second
	identityTimeout   = 30 * time.Second
)

// templatesFS holds the example's own templates, the default of
// -templates.
//
//go:embed templates/*.yaml templates/bindings/*.yaml
var templatesFS embed.FS

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	code := program{Args: os.Args[1:], Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr}.run(ctx)
	stop()
	os.Exit(code)
}

// program is one run of the broker, with everything it reads from its
// process passed in, so that tests run it in-process.
type program struct {
	Args   []string
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if not nil, is called with the address the server listens
	// on, once it does.
	Ready func(addr net.Addr)
	// HealthReady, if not nil, is called with the address of the
	// -health-listen listener, once it listens.
	HealthReady func(addr net.Addr)

	// pollInterval, if positive, replaces the Tracker's default (5s), so
	// that tests against moto finish in seconds.
	pollInterval time.Duration
}

// usageError marks an error caused by a bad configuration value: the
// program exits with exitUsage. Each line of the error is prefixed with
// the setting's name, if any.
type usageError struct {
	setting string
	err     error
}

func (e usageError) Error() string {
	if e.setting == "" {
		return e.err.Error()
	}
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = e.setting + ": " + l
	}
	return strings.Join(lines, "\n")
}

func (e usageError) Unwrap() error { return e.err }

// badValue is a usageError naming flag flagName and its variable.
func badValue(flagName string, err error) error {
	return usageError{setting: nameOf(flagName), err: err}
}

// run runs the program until ctx ends (a signal) or serving fails, and
// returns the exit code.
func (p program) run(ctx context.Context) int {
	cfg, err := parseConfig(p.Args, p.Getenv, p.Stderr)
	if errors.Is(err, errHelp) {
		return exitOK
	}
	if err != nil {
		p.fail(err)
		return exitUsage
	}
	log := slog.New(slog.NewTextHandler(p.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	idx, templates, warnings, err := loadTemplates(cfg)
	if err != nil {
		p.fail(err)
		return exitUsage
	}
	for _, w := range warnings {
		log.Warn("templates: " + w)
	}
	if cfg.PrintCatalog {
		b, err := json.MarshalIndent(idx.Catalog(), "", "  ")
		if err == nil {
			_, err = fmt.Fprintf(p.Stdout, "%s\n", b)
		}
		if err != nil {
			p.fail(err)
			return exitFailure
		}
		return exitOK
	}

	b, err := p.start(ctx, cfg, log, idx, templates)
	if err != nil {
		p.fail(err)
		if errors.As(err, new(usageError)) {
			return exitUsage
		}
		return exitFailure
	}
	return b.serve(ctx)
}

// fail prints every line of err to stderr, prefixed with the program's
// name.
func (p program) fail(err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(p.Stderr, "awsbroker: %s\n", line)
	}
}

// templateSet is what the broker provisions: per plan ID, the template
// of its instances and the template of its bindings.
type templateSet struct {
	Instances, Bindings cloudformation.StaticTemplates
}

// declared returns the parameters of the binding template of planID:
// the instance outputs that TrackedBindings passes to it.
func (ts templateSet) declared(planID string) []string {
	return slices.Sorted(maps.Keys(ts.Bindings[planID].Parameters))
}

// loadTemplates reads the templates directory (or the embedded one) into
// a validated catalog, the plans' templates and the loader's warnings.
// A plan is bindable when its service names a binding template
// (BindingTemplate): bindings are stacks of it.
func loadTemplates(cfg Config) (*catalog.Index, templateSet, []string, error) {
	var fsys fs.FS
	if cfg.Templates != "" {
		fsys = os.DirFS(cfg.Templates)
	} else {
		sub, err := fs.Sub(templatesFS, "templates")
		if err != nil {
			return nil, templateSet{}, nil, err
		}
		fsys = sub
	}
	ts, err := catalog.LoadTemplates(fsys, catalog.TemplateOptions{BrokerID: cfg.BrokerID, TargetParameters: cfg.AllowTargetAccount})
	if err != nil {
		return nil, templateSet{}, nil, badValue("templates", err)
	}
	// The backend answers GET instance (broker.Tracked) and GET binding
	// (broker.TrackedBindings), so the catalog says so. A rotation
	// (predecessor_binding_id) is a new binding with a user and key of
	// its own. A binding's parameters are all instance outputs: users may
	// set none.
	c := ts.Catalog
	warnings := ts.Warnings
	for i := range c.Services {
		s := &c.Services[i]
		s.InstancesRetrievable = true
		s.BindingsRetrievable = true
		for j := range s.Plans {
			p := &s.Plans[j]
			if ts.BindingTemplates[p.ID] == nil {
				// Credentials come from a binding's own stack; a plan
				// without one (the AWS Service Broker's templates as
				// they are) is served, but cannot be bound.
				p.Bindable = catalog.Bool(false)
				warnings = append(warnings, fmt.Sprintf("%s/%s: the specification has no BindingTemplate, so the plan is not bindable", s.Name, p.Name))
				continue
			}
			p.BindingRotatable = true
			if p.Schemas == nil {
				p.Schemas = &catalog.Schemas{}
			}
			p.Schemas.ServiceBinding = &catalog.ServiceBindingSchemas{Create: &catalog.InputParameters{Parameters: catalog.Schema{
				"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
				"properties": map[string]any{}, "additionalProperties": false,
			}}}
		}
	}
	idx, err := catalog.NewIndex(c)
	if err != nil {
		return nil, templateSet{}, nil, badValue("templates", err)
	}
	return idx, templateSet{
		Instances: cloudformation.TemplatesFrom(ts),
		Bindings:  cloudformation.TemplatesFrom(&catalog.TemplateSet{Templates: ts.BindingTemplates}),
	}, warnings, nil
}

// running is a started broker: every part that serve stops.
type running struct {
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
	tls bool
	// health serves /healthz, if -health-listen is set.
	health *healthServer
	// trackers are the instances' and the bindings' operation trackers.
	trackers []*provisioner.Tracker
	// closers close the state files (none for DynamoDB).
	closers []func() error
}

// bindingsFile is the bbolt file of binding records, beside the state
// file.
func bindingsFile(cfg Config) string { return filepath.Join(filepath.Dir(cfg.State), "bindings.db") }

// start checks what can only be checked by using it (TLS files, AWS
// credentials, the binding key), opens the files, assembles the broker
// and listens. On error everything it opened is closed again.
func (p program) start(ctx context.Context, cfg Config, log *slog.Logger, idx *catalog.Index, templates templateSet) (_ *running, err error) {
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()

	var tlsConfig *tls.Config
	if cfg.TLSCert != "" {
		// Reloaded when the files change: a renewed certificate needs no
		// restart.
		certs, err := loadCertificates(cfg.TLSCert, cfg.TLSKey, log)
		if err != nil {
			return nil, usageError{setting: nameOf("tls-cert") + " and " + nameOf("tls-key"), err: err}
		}
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	}

	// AWS: the default chain for credentials; AWS_ENDPOINT_URL (honoured
	// by the SDK) for moto or another endpoint. The region is always ours.
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		return nil, usageError{setting: "AWS configuration", err: err}
	}
	// Every client is made from awsCfg, the assumed roles' too
	// (credentials.Source keeps Base's APIOptions), so one option records
	// every call.
	if path := p.Getenv(envRecordCalls); path != "" {
		rec, err := openRecorder(path)
		if err != nil {
			return nil, err
		}
		closers = append(closers, rec.Close)
		awsCfg.APIOptions = append(awsCfg.APIOptions, rec.apiOption)
	}
	ictx, cancel := context.WithTimeout(ctx, identityTimeout)
	who, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ictx, &sts.GetCallerIdentityInput{})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("AWS credentials: checking them with sts:GetCallerIdentity: %w", err)
	}

	// The data directory and the binding key.
	if err := os.MkdirAll(filepath.Dir(cfg.State), 0o700); err != nil {
		return nil, badValue("state", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.BindingKey), 0o700); err != nil {
		return nil, badValue("binding-key", err)
	}
	key, created, err := loadOrCreateKey(cfg.BindingKey)
	if err != nil {
		return nil, badValue("binding-key", err)
	}
	if created {
		log.Info("created the binding key; back it up apart from the state files", "path", cfg.BindingKey)
	}
	sealer, err := provisioner.NewAESSealer(key)
	if err != nil {
		return nil, badValue("binding-key", err)
	}

	// The records of instances and of bindings: two bbolt files, or two
	// namespaces of a DynamoDB table shared by replicas. Each Tracker
	// needs a store of its own, since it resumes every operation its
	// store holds.
	var instanceStore, bindingStore provisioner.Store
	if cfg.DynamoDBTable != "" {
		client := awsdynamodb.NewFromConfig(awsCfg)
		if instanceStore, err = dynamodb.New(dynamodb.Options{Client: client, Table: cfg.DynamoDBTable, Namespace: "instances"}); err != nil {
			return nil, badValue("dynamodb-table", err)
		}
		if bindingStore, err = dynamodb.New(dynamodb.Options{Client: client, Table: cfg.DynamoDBTable, Namespace: "bindings"}); err != nil {
			return nil, badValue("dynamodb-table", err)
		}
	} else {
		db, err := store.OpenBolt(cfg.State, store.BoltOptions{})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", nameOf("state"), err)
		}
		closers = append(closers, db.Close)
		bdb, err := store.OpenBolt(bindingsFile(cfg), store.BoltOptions{})
		if errors.Is(err, store.ErrUnknownFormat) {
			return nil, fmt.Errorf("%s was written by an earlier awsbroker, whose bindings were IAM users it made itself: "+
				"unbind them with that version (or delete their IAM users, under the IAM path /%s/), then remove the file", bindingsFile(cfg), cfg.StackPrefix)
		}
		if err != nil {
			return nil, fmt.Errorf("bindings file: %w", err)
		}
		closers = append(closers, bdb.Close)
		instanceStore, bindingStore = db, bdb
	}

	// One SDK client per account (credentials.Target): the broker's own,
	// and a role assumed in each account that users name. One rate
	// limiter for every CloudFormation client of the process.
	src, err := credentials.New(credentials.Options{Base: awsCfg, RoleSessionName: "brokerkit-" + cfg.BrokerID})
	if err != nil {
		return nil, err
	}
	limiter := rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(math.Ceil(cfg.Rate))))
	cfnClients := credentials.NewClients(src, func(c aws.Config) cloudformation.API { return cloudformation.NewClient(c, limiter) })
	iamClients := credentials.NewClients(src, func(c aws.Config) accesskeys.API { return iam.NewFromConfig(c) })

	poll, maxPoll := cfg.PollInterval, 12*cfg.PollInterval
	if p.pollInterval > 0 {
		poll, maxPoll = p.pollInterval, 4*p.pollInterval
	}
	tracker := func(prefix string, tmpl cloudformation.StaticTemplates, st provisioner.Store, wrap func(provisioner.Provisioner) (provisioner.Provisioner, error)) (*provisioner.Tracker, error) {
		stacks, err := cloudformation.New(cloudformation.Options{
			Clients:     cfnClients.For,
			Catalog:     idx,
			Templates:   tmpl,
			StackPrefix: prefix,
			BrokerID:    cfg.BrokerID,
			RoleARN:     cfg.RoleARN,
			Logger:      log,
		})
		if err != nil {
			return nil, usageError{err: err}
		}
		prov, err := wrap(stacks)
		if err != nil {
			return nil, err
		}
		return provisioner.New(provisioner.Options{
			Store: st, Provisioner: prov, Catalog: idx, Sealer: sealer, Logger: log,
			PollInterval: poll, MaxPollInterval: maxPoll, LeaseDuration: cfg.LeaseDuration,
		})
	}
	instances, err := tracker(cfg.StackPrefix, templates.Instances, instanceStore,
		func(p provisioner.Provisioner) (provisioner.Provisioner, error) { return p, nil })
	if err != nil {
		return nil, err
	}
	// A binding's stack holds its IAM user; accesskeys gives the user its
	// key once the stack is ready, and deletes it before the stack.
	bindings, err := tracker(cfg.StackPrefix+"-bind", templates.Bindings, bindingStore,
		func(p provisioner.Provisioner) (provisioner.Provisioner, error) {
			return accesskeys.New(p, accesskeys.Options{Clients: iamClients.For, Logger: log})
		})
	if err != nil {
		return nil, err
	}
	var target func(context.Context, *broker.ProvisionRequest) (credentials.Target, broker.Parameters, error)
	if cfg.AllowTargetAccount {
		base := credentials.Target{RoleName: cfg.TargetRoleName, ExternalID: cfg.TargetExternalID, Region: cfg.Region}
		target = func(_ context.Context, req *broker.ProvisionRequest) (credentials.Target, broker.Parameters, error) {
			return credentials.FromParameters(base, req.Parameters)
		}
	}
	be := newBackend(instances, bindings, target, templates.declared)
	h, err := broker.New(idx, be, broker.Options{
		Authenticator: broker.BasicAuth(cfg.Users...),
		RequireAsync:  broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind,
		Logger:        log,
	})
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	// Last, the ports: nothing has been started if this fails.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOf("listen"), err)
	}
	var health *healthServer
	if cfg.HealthListen != "" {
		if health, err = listenHealth(cfg.HealthListen, log); err != nil {
			_ = ln.Close()
			return nil, err
		}
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	log.Info("serving", "url", scheme+"://"+ln.Addr().String(), "services", len(idx.Catalog().Services),
		"region", cfg.Region, "account", aws.ToString(who.Account), "stack_prefix", cfg.StackPrefix,
		"broker_id", cfg.BrokerID, "state", cfg.State, "dynamodb_table", cfg.DynamoDBTable, "users", len(cfg.Users),
		"allow_target_account", cfg.AllowTargetAccount)
	if health != nil {
		log.Info("serving health checks", "url", "http://"+health.ln.Addr().String()+healthPath)
	}
	if p.Ready != nil {
		p.Ready(ln.Addr())
	}
	if p.HealthReady != nil && health != nil {
		p.HealthReady(health.ln.Addr())
	}
	return &running{log: log, srv: srv, ln: ln, tls: tlsConfig != nil, health: health, trackers: []*provisioner.Tracker{instances, bindings}, closers: closers}, nil
}

// serve runs the server and the Trackers until ctx ends or one fails,
// then shuts down in order: stop accepting and finish requests (bounded),
// stop the Trackers and wait for them, close the files. It returns the
// exit code.
func (r *running) serve(ctx context.Context) int {
	tctx, stopTrackers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTrackers()
	trackerDone := make(chan error, len(r.trackers))
	for _, t := range r.trackers {
		go func() { trackerDone <- t.Run(tctx) }()
	}
	if r.health != nil {
		go r.health.serve()
	}
	serveDone := make(chan error, 1)
	go func() {
		if r.tls {
			serveDone <- r.srv.ServeTLS(r.ln, "", "")
		} else {
			serveDone <- r.srv.Serve(r.ln)
		}
	}()

	code := exitOK
	running := len(r.trackers)
	select {
	case <-ctx.Done():
		r.log.Info("shutting down")
	case err := <-serveDone:
		r.log.Error("serving failed", "error", err)
		code = exitFailure
	case err := <-trackerDone:
		r.log.Error("an operation tracker stopped", "error", err)
		code = exitFailure
		running--
	}

	// The probes fail from here on: the process is going away.
	if r.health != nil {
		r.health.close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	if err := r.srv.Shutdown(sctx); err != nil {
		r.log.Warn("requests still in progress at the shutdown deadline were cut off", "error", err)
		_ = r.srv.Close()
	}
	cancel()
	stopTrackers()
	for range running {
		if err := <-trackerDone; err != nil && !errors.Is(err, context.Canceled) {
			r.log.Error("an operation tracker stopped", "error", err)
			code = exitFailure
		}
	}
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	if err := errors.Join(errs...); err != nil {
		r.log.Error("closing the state files", "error", err)
		code = exitFailure
	}
	r.log.Info("stopped")
	return code
}
