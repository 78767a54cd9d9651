package reconciler

import (
	"context"
	"errors"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/brokerkit/brokerkit/binding"
	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/examples/controller/kubesecret"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/accesskeys"
)

// BindingReconciler creates and deletes ServiceBindings: a record of the
// bindings' Tracker (a stack with the binding's IAM user and, through
// accesskeys, its access key) and the Secret. Build it with [Setup].
type BindingReconciler struct {
	reconcilerBase
	// reader reads Secrets from the API server, not the cache: a Secret
	// that was just created or deleted is not mistaken for its absence or
	// presence (a second Create, or a conflict with our own Secret).
	reader client.Reader
}

type bindingWork struct {
	*BindingReconciler
	sb   *v1alpha1.ServiceBinding
	id   string
	cond conditions
}

// Reconcile implements reconcile.Reconciler.
func (r *BindingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sb := new(v1alpha1.ServiceBinding)
	if err := r.client.Get(ctx, req.NamespacedName, sb); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status := sb.Status.DeepCopy()
	w := &bindingWork{BindingReconciler: r, sb: sb, id: string(sb.UID),
		cond: conditions{list: &sb.Status.Conditions, gen: sb.Generation}}
	sb.Status.BindingID = w.id
	res, err := w.reconcile(ctx)
	if err != nil {
		w.cond.progress(v1alpha1.ReasonBackendError, err.Error())
	}
	sb.Status.ObservedGeneration = sb.Generation
	base := sb.DeepCopy()
	base.Status = *status
	return res, errors.Join(err, patchStatus(ctx, r.client, sb, base, base.Status, sb.Status))
}

func (w *bindingWork) reconcile(ctx context.Context) (ctrl.Result, error) {
	if !w.sb.DeletionTimestamp.IsZero() {
		return w.finalize(ctx)
	}
	if err := addFinalizer(ctx, w.client, w.sb); err != nil {
		return ctrl.Result{}, err
	}
	inst, err := w.instance(ctx)
	if err != nil || inst == nil {
		return ctrl.Result{}, err
	}
	st, err := w.opts.Bindings.LastOperation(ctx, w.id, "")
	if errors.Is(err, provisioner.ErrNotFound) || errors.Is(err, provisioner.ErrGone) {
		return w.bind(ctx, inst)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	op := st.Operation
	observe(&w.sb.Status.Operation, op, w.sb.Generation)
	switch {
	case op.State == provisioner.InProgress:
		msg := "The binding's resources are being created."
		if m := startFailures(op); m != "" {
			w.cond.progress(v1alpha1.ReasonBackendError, m)
		} else {
			w.cond.progress(v1alpha1.ReasonBinding, msg)
		}
		return w.requeue(st.RetryAfter), nil
	case op.Kind == provisioner.KindDeprovision:
		// Deleted while the object lives (by hand): bind again.
		return w.bind(ctx, inst)
	case op.State == provisioner.Failed:
		// The spec of a binding cannot change: it stays failed until it is
		// deleted.
		w.cond.stalled(v1alpha1.ReasonBindFailed, op.Description)
		return ctrl.Result{}, nil
	}
	rec, err := w.opts.Bindings.Instance(ctx, w.id)
	if err != nil {
		return ctrl.Result{}, err
	}
	return w.writeSecret(ctx, inst, rec)
}

// instance returns the provisioned record of the binding's instance, or nil
// with the condition set when it is not ready (its events requeue the
// binding).
func (w *bindingWork) instance(ctx context.Context) (*provisioner.Record, error) {
	var si v1alpha1.ServiceInstance
	err := w.client.Get(ctx, types.NamespacedName{Namespace: w.sb.Namespace, Name: w.sb.Spec.InstanceRef.Name}, &si)
	if apierrors.IsNotFound(err) {
		w.cond.progress(v1alpha1.ReasonInstanceNotReady, fmt.Sprintf("ServiceInstance %q does not exist.", w.sb.Spec.InstanceRef.Name))
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !si.DeletionTimestamp.IsZero() {
		w.cond.progress(v1alpha1.ReasonInstanceNotReady, fmt.Sprintf("ServiceInstance %q is being deleted.", si.Name))
		return nil, nil
	}
	rec, err := w.opts.Instances.Instance(ctx, string(si.UID))
	switch {
	case err == nil:
		return rec, nil
	case errors.Is(err, provisioner.ErrNotFound), errors.Is(err, provisioner.ErrBusy):
		w.cond.progress(v1alpha1.ReasonInstanceNotReady, fmt.Sprintf("ServiceInstance %q is not ready.", si.Name))
		return nil, nil
	}
	return nil, err
}

// bind starts the binding's stack with the declared instance outputs as
// parameters.
func (w *bindingWork) bind(ctx context.Context, inst *provisioner.Record) (ctrl.Result, error) {
	params := map[string]any{}
	var derived []string
	if w.opts.BindingParameters != nil {
		for _, k := range w.opts.BindingParameters(inst.PlanID) {
			if v, ok := inst.Outputs[k]; ok {
				params[k] = v
				derived = append(derived, k)
			}
		}
	}
	res, err := w.opts.Bindings.Provision(ctx, provisioner.ProvisionRequest{
		InstanceID: w.id, ServiceID: inst.ServiceID, PlanID: inst.PlanID,
		Parameters: params, Derived: derived,
		Context: map[string]any{"platform": "kubernetes", "namespace": w.sb.Namespace, "binding_name": w.sb.Name},
	})
	if err != nil {
		if provisioner.IsRetryable(err) {
			return ctrl.Result{}, err
		}
		w.cond.stalled(v1alpha1.ReasonBindFailed, err.Error())
		return ctrl.Result{}, nil
	}
	w.sb.Status.Operation = nil
	observe(&w.sb.Status.Operation, res.Operation, w.sb.Generation)
	w.cond.progress(v1alpha1.ReasonBinding, "The binding's resources are being created.")
	return w.requeue(0), nil
}

// writeSecret creates or updates the Secret from the instance's outputs
// and the binding's, plain and sealed (the access key's secret), as the
// service's credentials spec maps them.
func (w *bindingWork) writeSecret(ctx context.Context, inst, rec *provisioner.Record) (ctrl.Result, error) {
	name := w.sb.SecretNameOrDefault()
	var cur corev1.Secret
	err := w.reader.Get(ctx, types.NamespacedName{Namespace: w.sb.Namespace, Name: name}, &cur)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if exists && !metav1.IsControlledBy(&cur, w.sb) {
		w.cond.stalled(v1alpha1.ReasonSecretConflict, fmt.Sprintf("Secret %q exists and does not belong to this binding.", name))
		return ctrl.Result{}, nil
	}
	// An error opening the sealed outputs (the sealer's key was replaced)
	// is retried, not Stalled: restoring the key fixes it without a change
	// of the spec. Its text names the output, never a value.
	secrets, err := w.opts.Bindings.SecretOutputs(rec)
	if err != nil {
		return ctrl.Result{}, err
	}
	svc, _ := w.opts.Catalog.Service(inst.ServiceID)
	var spec *catalog.CredentialsSpec
	typ := ""
	if svc != nil {
		spec, typ = svc.Credentials, w.opts.BindingType(svc)
	}
	bopts, err := binding.OptionsFor(spec)
	if err != nil {
		w.cond.stalled(v1alpha1.ReasonBindFailed, err.Error())
		return ctrl.Result{}, nil
	}
	creds, err := binding.Build(ctx, binding.Merge(inst.Outputs, rec.Outputs, secrets), bopts)
	if err != nil {
		w.cond.stalled(v1alpha1.ReasonBindFailed, err.Error())
		return ctrl.Result{}, nil
	}
	want := kubesecret.Secret(w.sb.Namespace, name, creds, typ, w.opts.Provider)
	switch {
	case !exists:
		if err = controllerutil.SetControllerReference(w.sb, want, w.scheme); err == nil {
			err = w.client.Create(ctx, want)
		}
	case cur.Type != want.Type:
		// The type of a Secret cannot change: replace it.
		if err = w.client.Delete(ctx, &cur, client.Preconditions{UID: &cur.UID}); err == nil {
			return w.requeue(0), nil
		}
	case !maps.EqualFunc(cur.Data, want.Data, func(a, b []byte) bool { return string(a) == string(b) }):
		next := cur.DeepCopy()
		next.Data = want.Data
		err = w.client.Update(ctx, next)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	w.sb.Status.Binding = &corev1.LocalObjectReference{Name: name}
	w.sb.Status.AccessKeyID = rec.Outputs[accesskeys.DefaultKeyIDOutput]
	w.cond.done("The credentials are in Secret " + name + ".")
	return ctrl.Result{}, nil
}

// finalize deletes the binding's Secret, then its record (the access keys,
// by the accesskeys wrapper, then the stack), then removes the finalizer.
func (w *bindingWork) finalize(ctx context.Context) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(w.sb, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	st, err := w.opts.Bindings.LastOperation(ctx, w.id, "")
	switch {
	case errors.Is(err, provisioner.ErrNotFound), errors.Is(err, provisioner.ErrGone):
		if err := w.deleteSecret(ctx); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, removeFinalizer(ctx, w.client, w.sb)
	case err != nil:
		return ctrl.Result{}, err
	}
	op := st.Operation
	observe(&w.sb.Status.Operation, op, w.sb.Generation)
	if op.Kind == provisioner.KindDeprovision && op.State == provisioner.InProgress {
		w.cond.progress(v1alpha1.ReasonDeprovisioning, "The binding's resources are being deleted.")
		return w.requeue(st.RetryAfter), nil
	}
	if op.Kind == provisioner.KindDeprovision && op.State == provisioner.Succeeded {
		if err := w.deleteSecret(ctx); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, removeFinalizer(ctx, w.client, w.sb)
	}
	if op.Kind == provisioner.KindDeprovision { // failed
		w.cond.progress(v1alpha1.ReasonDeprovisionFailed, op.Description)
		if ok, res := w.retryFailedDelete(op.FinishedAt); !ok {
			return res, nil
		}
	}
	if err := w.deleteSecret(ctx); err != nil {
		return ctrl.Result{}, err
	}
	res, err := w.opts.Bindings.Deprovision(ctx, w.id)
	if errors.Is(err, provisioner.ErrNotFound) {
		return w.requeue(0), nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	w.sb.Status.Operation = nil
	observe(&w.sb.Status.Operation, res.Operation, w.sb.Generation)
	w.sb.Status.AccessKeyID = ""
	w.cond.progress(v1alpha1.ReasonDeprovisioning, "The binding's resources are being deleted.")
	return w.requeue(0), nil
}

// deleteSecret deletes the binding's Secret if the binding owns it. The
// owner reference would have the garbage collector do it too, but only
// after the binding is gone, and not at all where no garbage collector
// runs (envtest).
func (w *bindingWork) deleteSecret(ctx context.Context) error {
	var cur corev1.Secret
	err := w.reader.Get(ctx, types.NamespacedName{Namespace: w.sb.Namespace, Name: w.sb.SecretNameOrDefault()}, &cur)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(&cur, w.sb) {
		return nil
	}
	return client.IgnoreNotFound(w.client.Delete(ctx, &cur, client.Preconditions{UID: &cur.UID}))
}

// instanceEvents maps a ServiceInstance's events to its bindings, so that a
// binding waiting for its instance is looked at again.
func (r *BindingReconciler) instanceEvents() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list v1alpha1.ServiceBindingList
		if err := r.client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{instanceRefField: o.GetName()}); err != nil {
			return nil
		}
		reqs := make([]reconcile.Request, len(list.Items))
		for i := range list.Items {
			reqs[i] = reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])}
		}
		return reqs
	})
}
