// Command controller runs the brokerkit example controller in a cluster:
// ServiceInstances and ServiceBindings of the CRDs in config/crd, provisioned
// as CloudFormation stacks from a directory of AWS Service Broker templates,
// with the operation records in two bbolt files. Each binding's IAM user gets
// an access key (provisioner/accesskeys), whose secret is sealed in
// bindings.db with the key in the -sealer-key file, created on first start.
//
//	controller -templates ../awsbroker/templates -state /var/lib/brokerkit
//
// It reads the cluster's configuration as kubectl does (in-cluster, or
// KUBECONFIG) and AWS's from the environment (AWS_REGION, a role, …). Run
// one replica, or several with -leader-elect: only the leader reconciles and
// polls, since the bolt files belong to one process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/examples/controller/reconciler"
	"github.com/brokerkit/brokerkit/examples/controller/sealerkey"
	"github.com/brokerkit/brokerkit/examples/controller/templates"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
	"github.com/brokerkit/brokerkit/provisioner/cloudformation"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		tplDir      = flag.String("templates", "", "`directory` of CloudFormation templates with AWS Service Broker metadata (required)")
		stateDir    = flag.String("state", ".", "`directory` of the bolt files instances.db and bindings.db")
		prefix      = flag.String("stack-prefix", "brokerkit", "`prefix` of every stack name")
		brokerID    = flag.String("broker-id", "brokerkit-controller", "seeds the catalog's IDs and tags every stack")
		namespace   = flag.String("namespace", "", "watch this `namespace` only (default all)")
		leaderElect = flag.Bool("leader-elect", false, "elect a leader among replicas")
		sealerKey   = flag.String("sealer-key", "", "`file` of the 32-byte key sealing secrets in the bolt files, created when missing; mount a Secret here to keep it apart from them (default <state>/sealer.key)")
	)
	flag.Parse()
	if *tplDir == "" {
		return errors.New("-templates is required")
	}
	ctrl.SetLogger(zap.New())
	log := slog.Default()

	ts, err := catalog.LoadTemplates(os.DirFS(*tplDir), catalog.TemplateOptions{BrokerID: *brokerID})
	if err != nil {
		return err
	}
	idx, err := catalog.NewIndex(ts.Catalog)
	if err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	if *sealerKey == "" {
		*sealerKey = filepath.Join(*stateDir, "sealer.key")
	}
	key, err := sealerkey.LoadOrCreate(*sealerKey)
	if err != nil {
		return err
	}
	// One key for both stores: without it a binding's SecretAccessKey
	// (and an instance's secret parameters) would not survive a restart.
	sealer, err := provisioner.NewAESSealer(key)
	if err != nil {
		return err
	}
	client := cloudformation.NewClient(awsCfg, rate.NewLimiter(2, 5))
	tracker := func(file, prefix string, tpl cloudformation.TemplateSource, wrap func(provisioner.Provisioner) (provisioner.Provisioner, error)) (*provisioner.Tracker, func() error, error) {
		st, err := store.OpenBolt(filepath.Join(*stateDir, file), store.BoltOptions{})
		if err != nil {
			return nil, nil, err
		}
		var p provisioner.Provisioner
		p, err = cloudformation.New(cloudformation.Options{Client: client, Catalog: idx, Templates: tpl,
			StackPrefix: prefix, BrokerID: *brokerID, Logger: log})
		if err == nil && wrap != nil {
			p, err = wrap(p)
		}
		if err != nil {
			return nil, nil, errors.Join(err, st.Close())
		}
		tr, err := provisioner.New(provisioner.Options{Store: st, Provisioner: p, Catalog: idx, Sealer: sealer, Logger: log})
		if err != nil {
			return nil, nil, errors.Join(err, st.Close())
		}
		return tr, st.Close, nil
	}
	instances, closeInstances, err := tracker("instances.db", *prefix, cloudformation.TemplatesFrom(ts), nil)
	if err != nil {
		return err
	}
	defer closeInstances()
	bindingTemplates := templates.Bindings(&ts.Catalog, "sqs")
	withKeys := func(p provisioner.Provisioner) (provisioner.Provisioner, error) {
		return accesskeys.New(p, accesskeys.Options{Client: iam.NewFromConfig(awsCfg), Logger: log})
	}
	bindings, closeBindings, err := tracker("bindings.db", *prefix+"-bind", bindingTemplates, withKeys)
	if err != nil {
		return err
	}
	defer closeBindings()

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	opts := ctrl.Options{Scheme: scheme, LeaderElection: *leaderElect, LeaderElectionID: "brokerkit-controller"}
	if *namespace != "" {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{*namespace: {}}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		return err
	}
	if err := reconciler.Setup(mgr, reconciler.Options{
		Catalog: idx, Instances: instances, Bindings: bindings,
		BindingParameters: templates.Parameters(bindingTemplates),
	}); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
