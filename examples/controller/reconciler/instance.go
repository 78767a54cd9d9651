package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/brokerkit/brokerkit/catalog"
	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/provisioner"
)

// InstanceReconciler provisions, updates and deprovisions ServiceInstances
// through the instances' Tracker. Build it with [Setup].
type InstanceReconciler struct {
	reconcilerBase
}

// instanceWork is one reconcile of one ServiceInstance.
type instanceWork struct {
	*InstanceReconciler
	si   *v1alpha1.ServiceInstance
	id   string
	cond conditions
}

// Reconcile implements reconcile.Reconciler.
func (r *InstanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	si := new(v1alpha1.ServiceInstance)
	if err := r.client.Get(ctx, req.NamespacedName, si); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	status := si.Status.DeepCopy()
	w := &instanceWork{InstanceReconciler: r, si: si, id: string(si.UID),
		cond: conditions{list: &si.Status.Conditions, gen: si.Generation}}
	si.Status.InstanceID = w.id
	res, err := w.reconcile(ctx)
	if err != nil {
		w.cond.progress(v1alpha1.ReasonBackendError, err.Error())
	}
	si.Status.ObservedGeneration = si.Generation
	base := si.DeepCopy()
	base.Status = *status
	return res, errors.Join(err, patchStatus(ctx, r.client, si, base, base.Status, si.Status))
}

// patchStatus writes obj's status if it differs from the status of base,
// a copy of obj with the status it had when read, as a merge patch of the
// status alone. An object already gone is no error.
func patchStatus(ctx context.Context, c client.Client, obj, base client.Object, before, after any) error {
	if equality.Semantic.DeepEqual(before, after) {
		return nil
	}
	return client.IgnoreNotFound(c.Status().Patch(ctx, obj, client.MergeFrom(base)))
}

func (w *instanceWork) reconcile(ctx context.Context) (ctrl.Result, error) {
	if !w.si.DeletionTimestamp.IsZero() {
		return w.finalize(ctx)
	}
	if err := addFinalizer(ctx, w.client, w.si); err != nil {
		return ctrl.Result{}, err
	}
	svc, plan, err := w.plan()
	if err != nil {
		w.cond.stalled(v1alpha1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	}
	params, err := w.parameters(plan.ID)
	if err != nil {
		w.cond.stalled(v1alpha1.ReasonInvalidSpec, err.Error())
		return ctrl.Result{}, nil
	}
	st, err := w.opts.Instances.LastOperation(ctx, w.id, "")
	if errors.Is(err, provisioner.ErrNotFound) || errors.Is(err, provisioner.ErrGone) {
		return w.provision(ctx, svc, plan, params)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	op := st.Operation
	status := observe(&w.si.Status.Operation, op, w.si.Generation)
	switch {
	case op.State == provisioner.InProgress:
		reason := v1alpha1.ReasonProvisioning
		msg := "The " + string(op.Kind) + " is in progress."
		if op.Kind == provisioner.KindDeprovision {
			reason, msg = v1alpha1.ReasonDeprovisioning, "The failed instance is being deleted before it is provisioned again."
		}
		if m := startFailures(op); m != "" {
			reason, msg = v1alpha1.ReasonBackendError, m
		}
		w.cond.progress(reason, msg)
		return w.requeue(st.RetryAfter), nil

	case op.Kind == provisioner.KindDeprovision && op.State == provisioner.Succeeded:
		// The failed instance was deleted: provision the new spec.
		return w.provision(ctx, svc, plan, params)

	case op.Kind == provisioner.KindDeprovision: // failed
		w.cond.progress(v1alpha1.ReasonDeprovisionFailed, op.Description)
		return w.retryDelete(ctx, op)

	case op.Kind == provisioner.KindProvision && op.State == provisioner.Failed:
		if status.Generation == w.si.Generation {
			w.cond.stalled(v1alpha1.ReasonProvisionFailed, op.Description)
			return ctrl.Result{}, nil
		}
		// The spec changed since: delete the failed stack, then provision
		// the new spec.
		return w.deprovision(ctx, v1alpha1.ReasonDeprovisioning, "The failed instance is being deleted before it is provisioned again.")

	case op.Kind == provisioner.KindUpdate && op.State == provisioner.Failed && status.Generation == w.si.Generation:
		if op.InstanceUsable == nil || *op.InstanceUsable {
			w.cond.done("The instance is usable; its last update failed.")
		} else {
			w.cond.ready(metav1.ConditionFalse, v1alpha1.ReasonUpdateFailed, op.Description)
		}
		w.cond.stall(v1alpha1.ReasonUpdateFailed, op.Description)
		return ctrl.Result{}, nil
	}
	// Provisioned (or updated): make it match the spec.
	return w.sync(ctx, svc, plan, params)
}

// plan finds the spec's service and plan in the catalog.
func (w *instanceWork) plan() (*catalog.Service, *catalog.Plan, error) {
	for i := range w.opts.Catalog.Catalog().Services {
		svc := &w.opts.Catalog.Catalog().Services[i]
		if svc.Name != w.si.Spec.Service {
			continue
		}
		for j := range svc.Plans {
			if svc.Plans[j].Name == w.si.Spec.Plan {
				return svc, &svc.Plans[j], nil
			}
		}
		return nil, nil, fmt.Errorf("service %q has no plan %q", w.si.Spec.Service, w.si.Spec.Plan)
	}
	return nil, nil, fmt.Errorf("the catalog has no service %q", w.si.Spec.Service)
}

// parameters decodes the spec's parameters and checks them against the
// plan's schema.
func (w *instanceWork) parameters(planID string) (map[string]any, error) {
	raw := []byte("{}")
	if p := w.si.Spec.Parameters; p != nil && len(p.Raw) > 0 {
		raw = p.Raw
	}
	if err := w.opts.Catalog.ValidateParameters(planID, catalog.InstanceCreate, raw); err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	var params map[string]any
	if err := json.Unmarshal(raw, &params); err != nil {
		return nil, fmt.Errorf("parameters: %w", err)
	}
	return params, nil
}

func (w *instanceWork) request(svc *catalog.Service, plan *catalog.Plan, params map[string]any) provisioner.ProvisionRequest {
	return provisioner.ProvisionRequest{
		InstanceID: w.id, ServiceID: svc.ID, PlanID: plan.ID, Parameters: params,
		// The OSB Kubernetes context profile, which cloudformation.Stacks
		// turns into stack tags.
		Context: map[string]any{"platform": "kubernetes", "namespace": w.si.Namespace, "instance_name": w.si.Name},
	}
}

func (w *instanceWork) provision(ctx context.Context, svc *catalog.Service, plan *catalog.Plan, params map[string]any) (ctrl.Result, error) {
	res, err := w.opts.Instances.Provision(ctx, w.request(svc, plan, params))
	if err != nil {
		return w.refused(err)
	}
	w.started(res.Operation)
	w.cond.progress(v1alpha1.ReasonProvisioning, "The provision is in progress.")
	return w.requeue(0), nil
}

// sync makes a provisioned instance match the spec: a repeated provision
// answers Unchanged when it does, ErrConflict when the plan or parameters
// differ, which an update then changes.
func (w *instanceWork) sync(ctx context.Context, svc *catalog.Service, plan *catalog.Plan, params map[string]any) (ctrl.Result, error) {
	_, err := w.opts.Instances.Provision(ctx, w.request(svc, plan, params))
	switch {
	case err == nil:
		w.cond.done("The instance is provisioned.")
		return ctrl.Result{}, nil
	case errors.Is(err, provisioner.ErrBusy):
		w.cond.progress(v1alpha1.ReasonProvisioning, "Another operation is in progress.")
		return w.requeue(0), nil
	case !errors.Is(err, provisioner.ErrConflict):
		return w.refused(err)
	}
	res, err := w.opts.Instances.Update(ctx, provisioner.UpdateRequest{InstanceID: w.id,
		Change: provisioner.Change{PlanID: plan.ID, Parameters: params}})
	if err != nil {
		if !provisioner.IsRetryable(err) {
			w.cond.stall(v1alpha1.ReasonUpdateFailed, err.Error())
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if res.Outcome == provisioner.Unchanged {
		w.cond.done("The instance is provisioned.")
		return ctrl.Result{}, nil
	}
	w.started(res.Operation)
	w.cond.progress(v1alpha1.ReasonProvisioning, "The update is in progress.")
	return w.requeue(0), nil
}

// refused reports an error of a provision: terminal ones stall until the
// spec changes, others are retried.
func (w *instanceWork) refused(err error) (ctrl.Result, error) {
	if provisioner.IsRetryable(err) {
		return ctrl.Result{}, err
	}
	w.cond.stalled(v1alpha1.ReasonInvalidSpec, err.Error())
	return ctrl.Result{}, nil
}

// started records an operation this reconcile started, for the current
// generation.
func (w *instanceWork) started(op *provisioner.Operation) {
	w.si.Status.Operation = nil
	observe(&w.si.Status.Operation, op, w.si.Generation)
}

// deprovision starts (or joins) the delete of the instance's stack.
func (w *instanceWork) deprovision(ctx context.Context, reason, msg string) (ctrl.Result, error) {
	res, err := w.opts.Instances.Deprovision(ctx, w.id)
	if errors.Is(err, provisioner.ErrNotFound) {
		return w.requeue(0), nil // deleted meanwhile: look again
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	w.started(res.Operation)
	w.cond.progress(reason, msg)
	return w.requeue(0), nil
}

// retryDelete deletes again once RetryDelete has passed since op failed.
func (w *instanceWork) retryDelete(ctx context.Context, op *provisioner.Operation) (ctrl.Result, error) {
	if ok, res := w.retryFailedDelete(op.FinishedAt); !ok {
		return res, nil
	}
	res, err := w.deprovision(ctx, v1alpha1.ReasonDeprovisioning, "Deleting again after a failed delete.")
	return res, err
}

// finalize deprovisions a deleted instance once its bindings are gone,
// then removes the finalizer.
func (w *instanceWork) finalize(ctx context.Context) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(w.si, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	var bindings v1alpha1.ServiceBindingList
	if err := w.client.List(ctx, &bindings, client.InNamespace(w.si.Namespace), client.MatchingFields{instanceRefField: w.si.Name}); err != nil {
		return ctrl.Result{}, err
	}
	if n := len(bindings.Items); n > 0 {
		w.cond.progress(v1alpha1.ReasonBindingsExist, fmt.Sprintf("Waiting for %d ServiceBinding(s) of this instance to be deleted.", n))
		return ctrl.Result{}, nil // a binding's deletion requeues the instance
	}
	st, err := w.opts.Instances.LastOperation(ctx, w.id, "")
	switch {
	case errors.Is(err, provisioner.ErrNotFound), errors.Is(err, provisioner.ErrGone):
		return ctrl.Result{}, removeFinalizer(ctx, w.client, w.si)
	case err != nil:
		return ctrl.Result{}, err
	}
	op := st.Operation
	observe(&w.si.Status.Operation, op, w.si.Generation)
	if op.Kind != provisioner.KindDeprovision {
		return w.deprovision(ctx, v1alpha1.ReasonDeprovisioning, "The instance is being deleted.")
	}
	switch op.State {
	case provisioner.InProgress:
		msg := "The instance is being deleted."
		if m := startFailures(op); m != "" {
			msg = m
		}
		w.cond.progress(v1alpha1.ReasonDeprovisioning, msg)
		return w.requeue(st.RetryAfter), nil
	case provisioner.Failed:
		w.cond.progress(v1alpha1.ReasonDeprovisionFailed, op.Description)
		return w.retryDelete(ctx, op)
	}
	return ctrl.Result{}, removeFinalizer(ctx, w.client, w.si)
}

// bindingEvents maps a ServiceBinding's events to its instance, so that an
// instance waiting for its bindings to go is looked at again.
func (r *InstanceReconciler) bindingEvents() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		b := o.(*v1alpha1.ServiceBinding)
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: b.Namespace, Name: b.Spec.InstanceRef.Name}}}
	})
}

// addFinalizer adds the finalizer if it is missing.
func addFinalizer(ctx context.Context, c client.Client, o client.Object) error {
	if controllerutil.ContainsFinalizer(o, v1alpha1.Finalizer) {
		return nil
	}
	base := o.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(o, v1alpha1.Finalizer)
	return c.Patch(ctx, o, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
}

// removeFinalizer removes the finalizer; an object already gone is no
// error.
func removeFinalizer(ctx context.Context, c client.Client, o client.Object) error {
	if !controllerutil.ContainsFinalizer(o, v1alpha1.Finalizer) {
		return nil
	}
	base := o.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(o, v1alpha1.Finalizer)
	err := c.Patch(ctx, o, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
