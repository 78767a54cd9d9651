package reconciler

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/provisioner"
)

// Options configure the reconcilers.
type Options struct {
	// Catalog names the services and plans a ServiceInstance may ask for.
	// Required.
	Catalog *catalog.Index
	// Instances runs the instances' operations. Required.
	Instances *provisioner.Tracker
	// Bindings runs the bindings' operations, with the instances' plan IDs
	// as its plans and a Store of its own. Required. For bindings with
	// access keys, its Provisioner is wrapped by accesskeys.New and it has
	// a Sealer: the key's secret is a sealed output, which the Secret gets
	// through its SecretOutputs.
	Bindings *provisioner.Tracker
	// BindingParameters names the instance outputs a binding's stack takes
	// as parameters (for SQS, QueueARN). Nil passes none.
	BindingParameters func(planID string) []string
	// BindingType is the Secret's servicebinding.io type for a service;
	// default the service's name ("sqs").
	BindingType func(svc *catalog.Service) string
	// Provider is the Secret's "provider" entry; default "aws".
	Provider string
	// MinRequeue and MaxRequeue bound how long a reconciler waits before
	// looking again at an operation in progress (defaults 100ms and 30s);
	// within them it waits as long as the Tracker says.
	MinRequeue, MaxRequeue time.Duration
	// RetryDelete is the wait before a failed delete is tried again
	// (default 30s).
	RetryDelete time.Duration
}

// Setup registers the ServiceInstance and ServiceBinding reconcilers with
// mgr, the field index they share, and a Runnable per Tracker that runs its
// Run loop for as long as the manager runs. mgr's scheme must know
// v1alpha1 and core/v1.
func Setup(mgr manager.Manager, opts Options) error {
	if opts.Catalog == nil || opts.Instances == nil || opts.Bindings == nil {
		return errors.New("reconciler: Catalog, Instances and Bindings are required")
	}
	if opts.Provider == "" {
		opts.Provider = "aws"
	}
	if opts.BindingType == nil {
		opts.BindingType = func(svc *catalog.Service) string { return svc.Name }
	}
	if opts.MinRequeue <= 0 {
		opts.MinRequeue = 100 * time.Millisecond
	}
	if opts.MaxRequeue <= 0 {
		opts.MaxRequeue = 30 * time.Second
	}
	if opts.RetryDelete <= 0 {
		opts.RetryDelete = 30 * time.Second
	}
	for _, t := range []*provisioner.Tracker{opts.Instances, opts.Bindings} {
		if err := mgr.Add(trackerRunnable{t}); err != nil {
			return err
		}
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.ServiceBinding{}, instanceRefField,
		func(o client.Object) []string { return []string{o.(*v1alpha1.ServiceBinding).Spec.InstanceRef.Name} }); err != nil {
		return err
	}
	base := reconcilerBase{opts: opts, client: mgr.GetClient(), scheme: mgr.GetScheme()}
	ir := &InstanceReconciler{reconcilerBase: base}
	if err := ctrl.NewControllerManagedBy(mgr).Named("serviceinstance").
		For(&v1alpha1.ServiceInstance{}).
		Watches(&v1alpha1.ServiceBinding{}, ir.bindingEvents()).
		Complete(ir); err != nil {
		return err
	}
	br := &BindingReconciler{reconcilerBase: base, reader: mgr.GetAPIReader()}
	return ctrl.NewControllerManagedBy(mgr).Named("servicebinding").
		For(&v1alpha1.ServiceBinding{}).
		Owns(&corev1.Secret{}).
		Watches(&v1alpha1.ServiceInstance{}, br.instanceEvents()).
		Complete(br)
}

// instanceRefField indexes ServiceBindings by the instance they name.
const instanceRefField = "spec.instanceRef.name"

// trackerRunnable runs a Tracker's Run loop in a manager: it needs the
// leader (the default for a Runnable), since two processes polling one
// Store would do the work twice.
type trackerRunnable struct{ t *provisioner.Tracker }

func (r trackerRunnable) Start(ctx context.Context) error {
	err := r.t.Run(ctx)
	if ctx.Err() != nil {
		return nil // the manager stops: not an error
	}
	return err
}

// reconcilerBase is what both reconcilers share.
type reconcilerBase struct {
	opts   Options
	client client.Client
	scheme *runtime.Scheme
}

// requeue returns how long to wait for an operation in progress.
func (b *reconcilerBase) requeue(retryAfter time.Duration) ctrl.Result {
	return ctrl.Result{RequeueAfter: min(max(retryAfter, b.opts.MinRequeue), b.opts.MaxRequeue)}
}

// retryFailedDelete returns whether a delete that failed at finished may
// be tried again now, and otherwise the wait.
func (b *reconcilerBase) retryFailedDelete(finished time.Time) (bool, ctrl.Result) {
	wait := b.opts.RetryDelete - time.Since(finished)
	if wait <= 0 {
		return true, ctrl.Result{}
	}
	return false, ctrl.Result{RequeueAfter: wait}
}
