package reconciler_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/examples/controller/reconciler"
	"github.com/brokerkit/brokerkit/examples/controller/sealerkey"
	"github.com/brokerkit/brokerkit/examples/controller/templates"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

// The catalog of the tests: the example broker's SQS template, with the
// binding template its BindingTemplate names (which the loader requires;
// the controller's stacks use templates.Bindings).
var (
	catalogOnce sync.Once
	templateSet *catalog.TemplateSet
	catalogErr  error
)

func sqsTemplates(t *testing.T) *catalog.TemplateSet {
	t.Helper()
	catalogOnce.Do(func() {
		fsys := fstest.MapFS{}
		for _, name := range []string{"sqs.yaml", "bindings/sqs.yaml"} {
			body, err := os.ReadFile(filepath.Join("..", "..", "awsbroker", "templates", filepath.FromSlash(name)))
			if err != nil {
				catalogErr = err
				return
			}
			fsys[name] = &fstest.MapFile{Data: body}
		}
		templateSet, catalogErr = catalog.LoadTemplates(fsys, catalog.TemplateOptions{BrokerID: "controller-test"})
	})
	if catalogErr != nil {
		t.Fatal(catalogErr)
	}
	return templateSet
}

// controllerConfig says where a test controller's parts come from.
type controllerConfig struct {
	Namespace string
	// CFN is the configuration of the CloudFormation client (moto's or
	// the scripted fake's).
	CFN aws.Config
	// IAM, when set, gives bindings access keys: the bindings' stacks are
	// wrapped by accesskeys.New.
	IAM accesskeys.API
	// WrapStacks, when set, wraps the bindings' stacks inside the access
	// keys' wrapper (to watch what it does before each stack call).
	WrapStacks func(*cloudformation.Stacks) provisioner.Provisioner
	// StateDir holds the bolt files; a restart reuses it.
	StateDir    string
	StackPrefix string
}

// testController is a running manager with the reconcilers.
type testController struct {
	Instances, Bindings *provisioner.Tracker
	cancel              context.CancelFunc
	done                chan error
	stores              []*store.Bolt
	stopOnce            sync.Once
}

// startController starts a manager watching cfg.Namespace only, with
// Trackers over bolt files in cfg.StateDir. It is stopped when t ends, or
// earlier by stop.
func startController(t *testing.T, cfg controllerConfig) *testController {
	t.Helper()
	ts := sqsTemplates(t)
	idx, err := catalog.NewIndex(ts.Catalog)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	client := cloudformation.NewClient(cfg.CFN, rate.NewLimiter(200, 50))
	c := &testController{done: make(chan error, 1)}
	// The key file in the state directory, as cmd/controller keeps it: a
	// restart opens what the previous manager sealed.
	key, err := sealerkey.LoadOrCreate(filepath.Join(cfg.StateDir, "sealer.key"))
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := provisioner.NewAESSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	tracker := func(file, prefix string, tpl cloudformation.TemplateSource, bindings bool) *provisioner.Tracker {
		st, err := store.OpenBolt(filepath.Join(cfg.StateDir, file), store.BoltOptions{NoSync: true, Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		c.stores = append(c.stores, st)
		stacks, err := cloudformation.New(cloudformation.Options{Client: client, Catalog: idx, Templates: tpl,
			StackPrefix: prefix, BrokerID: "controller-test", Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		var p provisioner.Provisioner = stacks
		if bindings && cfg.WrapStacks != nil {
			p = cfg.WrapStacks(stacks)
		}
		if bindings && cfg.IAM != nil {
			if p, err = accesskeys.New(p, accesskeys.Options{Client: cfg.IAM, Logger: log}); err != nil {
				t.Fatal(err)
			}
		}
		tr, err := provisioner.New(provisioner.Options{Store: st, Provisioner: p, Catalog: idx, Sealer: sealer, Logger: log,
			PollInterval: 50 * time.Millisecond, MaxPollInterval: 250 * time.Millisecond, CallTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	bindingTemplates := templates.Bindings(&ts.Catalog, "sqs")
	c.Instances = tracker("instances.db", cfg.StackPrefix, cloudformation.TemplatesFrom(ts), false)
	c.Bindings = tracker("bindings.db", cfg.StackPrefix+"-bind", bindingTemplates, true)

	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Logger:                 errorLogger(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{cfg.Namespace: {}}},
		// Tests run several managers in one process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	opts := reconciler.Options{
		Catalog: idx, Instances: c.Instances, Bindings: c.Bindings,
		BindingParameters: templates.Parameters(bindingTemplates),
		MinRequeue:        50 * time.Millisecond, MaxRequeue: time.Second, RetryDelete: time.Second,
	}
	if err := reconciler.Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { c.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop stops the manager, waits for it, and closes the bolt files.
func (c *testController) stop(t *testing.T) {
	t.Helper()
	c.stopOnce.Do(func() {
		c.cancel()
		select {
		case err := <-c.done:
			if err != nil {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the manager did not stop within 30s")
		}
		for _, st := range c.stores {
			if err := st.Close(); err != nil {
				t.Error(err)
			}
		}
	})
}

// errorLogger logs controller-runtime's errors to stderr and drops the
// rest.
func errorLogger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		os.Stderr.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: -1})
}

// newNamespace creates a namespace for t.
func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bk-"}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newClient returns an uncached client of the test API server.
func newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
