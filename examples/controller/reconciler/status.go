package reconciler

import (
	"strconv"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
	"github.com/brokerkit/brokerkit/provisioner"
)

// conditions sets a resource's Ready and Stalled conditions for generation
// gen. Messages must hold no secret: they are operation descriptions (root
// causes) and texts of this package.
type conditions struct {
	list *[]metav1.Condition
	gen  int64
}

// progress: Ready False for reason, not stalled.
func (c conditions) progress(reason, msg string) {
	c.ready(metav1.ConditionFalse, reason, msg)
	meta.RemoveStatusCondition(c.list, v1alpha1.ConditionStalled)
}

// stalled: Ready False and Stalled True for reason: the spec must change.
func (c conditions) stalled(reason, msg string) {
	c.ready(metav1.ConditionFalse, reason, msg)
	c.stall(reason, msg)
}

// stall: Stalled True, Ready as it is (a failed update of a usable
// instance).
func (c conditions) stall(reason, msg string) {
	meta.SetStatusCondition(c.list, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
		Reason: reason, Message: msg, ObservedGeneration: c.gen})
}

// done: Ready True, not stalled.
func (c conditions) done(msg string) {
	c.ready(metav1.ConditionTrue, v1alpha1.ReasonReady, msg)
	meta.RemoveStatusCondition(c.list, v1alpha1.ConditionStalled)
}

func (c conditions) ready(status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(c.list, metav1.Condition{Type: v1alpha1.ConditionReady, Status: status,
		Reason: reason, Message: msg, ObservedGeneration: c.gen})
}

// observe records op as the resource's last operation. The generation an
// operation was started for is known only from the status this controller
// wrote when it started it; an operation the status does not know is taken
// to be for the current generation, so that a failure is never retried
// without a spec change.
func observe(cur **v1alpha1.Operation, op *provisioner.Operation, gen int64) *v1alpha1.Operation {
	next := &v1alpha1.Operation{ID: op.ID, Kind: string(op.Kind), State: string(op.State), Description: op.Description, Generation: gen}
	if *cur != nil && (*cur).ID == op.ID && (*cur).Generation != 0 {
		next.Generation = (*cur).Generation
	}
	*cur = next
	return next
}

// startFailures describes an operation whose start call the Tracker is
// retrying (throttling, a 5xx, a timeout), or returns "".
func startFailures(op *provisioner.Operation) string {
	if op.State != provisioner.InProgress || op.Started || op.Attempts == 0 {
		return ""
	}
	if op.Attempts == 1 {
		return "Starting the " + string(op.Kind) + " failed once; retrying."
	}
	return "Starting the " + string(op.Kind) + " failed " + strconv.Itoa(op.Attempts) + " times; retrying."
}
