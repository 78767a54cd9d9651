package cloudformation

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/brokerkit/brokerkit/provisioner"
)

// Verdict is what a stack status means for one operation.
type Verdict struct {
	State provisioner.State
	// InstanceUsable and UpdateRepeatable qualify a failed update or
	// deprovision (nil for provisions, and for other states).
	InstanceUsable   *bool
	UpdateRepeatable *bool
}

// row is one status's verdict for each kind of operation.
type row struct {
	provision, update, deprovision Verdict
}

var (
	yes, no = ptr(true), ptr(false)

	inProgress = Verdict{State: provisioner.InProgress}
	succeeded  = Verdict{State: provisioner.Succeeded}
	// failedCreate is a provision that failed: usable and repeatable are
	// not the platform's business there.
	failedCreate = Verdict{State: provisioner.Failed}
	// failedStuck: the stack needs an operator (or a deprovision); an
	// update cannot help.
	failedStuck = Verdict{State: provisioner.Failed, InstanceUsable: no, UpdateRepeatable: no}
	// failedRolledBack: the update was undone; the instance works as
	// before it and the update may be tried again.
	failedRolledBack = Verdict{State: provisioner.Failed, InstanceUsable: yes, UpdateRepeatable: yes}
	// failedPartial: the update stopped half way (rollback disabled); the
	// instance may not work, another update may fix it.
	failedPartial = Verdict{State: provisioner.Failed, InstanceUsable: no, UpdateRepeatable: yes}
	// failedDelete: a delete failed; the resources partly exist. A later
	// deprovision deletes again (retaining what failed, if so configured).
	failedDelete = Verdict{State: provisioner.Failed, InstanceUsable: no}
)

func ptr[T any](v T) *T { return &v }

// statuses maps every stack status to its verdict for each kind of
// operation. Reading guide:
//
//   - *_IN_PROGRESS is in progress for every kind, including rollbacks and
//     cleanups: the stack takes no new operation until it settles.
//     REVIEW_IN_PROGRESS (a change set not yet executed) is in progress too.
//   - A provision fails when its stack rolls back (ROLLBACK_COMPLETE: the
//     stack is then deleted before a retried create re-creates it), fails
//     to roll back, or is deleted. An instance's stack that a provision
//     finds already updated (UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE,
//     IMPORT_*: adopted after a crash) works, so the provision succeeded.
//   - An update succeeds at UPDATE_COMPLETE only; after its cleanup phase,
//     so a next update is not refused for UPDATE_COMPLETE_CLEANUP_IN_PROGRESS.
//     UPDATE_ROLLBACK_COMPLETE is a failed update with a usable instance;
//     UPDATE_ROLLBACK_FAILED a failed one with an unusable instance (an
//     operator must continue the rollback). A settled status that no
//     update produces (CREATE_COMPLETE, IMPORT_COMPLETE,
//     IMPORT_ROLLBACK_COMPLETE) means the update has not shown yet:
//     UpdateStack moves the stack to UPDATE_IN_PROGRESS before it returns,
//     so only a lagging read sees it, and it is in progress (the Tracker's
//     operation timeout bounds it). A status no update leaves the stack in
//     and that no update can leave (ROLLBACK_*, DELETE_*, *_FAILED) fails
//     the update with an unusable instance.
//   - A deprovision succeeds at DELETE_COMPLETE (and when the stack does
//     not exist, which Observe handles before the table) and fails at
//     DELETE_FAILED with an unusable instance. Any other settled status
//     means the delete has not shown yet, as for updates: in progress.
var statuses = map[types.StackStatus]row{
	types.StackStatusCreateInProgress:                        {inProgress, inProgress, inProgress},
	types.StackStatusCreateFailed:                            {failedCreate, failedStuck, inProgress},
	types.StackStatusCreateComplete:                          {succeeded, inProgress, inProgress},
	types.StackStatusRollbackInProgress:                      {inProgress, inProgress, inProgress},
	types.StackStatusRollbackFailed:                          {failedCreate, failedStuck, inProgress},
	types.StackStatusRollbackComplete:                        {failedCreate, failedStuck, inProgress},
	types.StackStatusDeleteInProgress:                        {inProgress, inProgress, inProgress},
	types.StackStatusDeleteFailed:                            {failedCreate, failedStuck, failedDelete},
	types.StackStatusDeleteComplete:                          {failedCreate, failedStuck, succeeded},
	types.StackStatusUpdateInProgress:                        {inProgress, inProgress, inProgress},
	types.StackStatusUpdateCompleteCleanupInProgress:         {inProgress, inProgress, inProgress},
	types.StackStatusUpdateComplete:                          {succeeded, succeeded, inProgress},
	types.StackStatusUpdateFailed:                            {failedCreate, failedPartial, inProgress},
	types.StackStatusUpdateRollbackInProgress:                {inProgress, inProgress, inProgress},
	types.StackStatusUpdateRollbackFailed:                    {failedCreate, failedStuck, inProgress},
	types.StackStatusUpdateRollbackCompleteCleanupInProgress: {inProgress, inProgress, inProgress},
	types.StackStatusUpdateRollbackComplete:                  {succeeded, failedRolledBack, inProgress},
	types.StackStatusReviewInProgress:                        {inProgress, inProgress, inProgress},
	types.StackStatusImportInProgress:                        {inProgress, inProgress, inProgress},
	types.StackStatusImportComplete:                          {succeeded, inProgress, inProgress},
	types.StackStatusImportRollbackInProgress:                {inProgress, inProgress, inProgress},
	types.StackStatusImportRollbackFailed:                    {failedCreate, failedStuck, inProgress},
	types.StackStatusImportRollbackComplete:                  {succeeded, inProgress, inProgress},
}

// Judge returns what stack status means for an operation of kind. It is
// the table described at statuses: every one of the 23 statuses has a
// verdict for each kind. A status CloudFormation may add later is in
// progress if it ends in _IN_PROGRESS, else a failure with an unusable
// instance; an unknown kind is a failure.
func Judge(kind provisioner.Kind, status string) Verdict {
	r, ok := statuses[types.StackStatus(status)]
	if !ok {
		if strings.HasSuffix(status, "_IN_PROGRESS") {
			return inProgress
		}
		if kind == provisioner.KindProvision {
			return failedCreate
		}
		return failedStuck
	}
	switch kind {
	case provisioner.KindProvision:
		return r.provision
	case provisioner.KindUpdate:
		return r.update
	case provisioner.KindDeprovision:
		return r.deprovision
	}
	return failedStuck
}

// updatable reports whether a stack in status takes an UpdateStack:
// CloudFormation refuses the rest with "is in STATUS state and can not be
// updated".
func updatable(status types.StackStatus) bool {
	switch status {
	case types.StackStatusCreateComplete, types.StackStatusUpdateComplete,
		types.StackStatusUpdateRollbackComplete, types.StackStatusImportComplete,
		types.StackStatusImportRollbackComplete, types.StackStatusCreateFailed,
		types.StackStatusUpdateFailed:
		return true
	}
	return false
}

// settledRefusal reports statuses that refuse an update for good (not
// only until an operation in progress ends).
func settledRefusal(status types.StackStatus) bool {
	return !updatable(status) && !strings.HasSuffix(string(status), "_IN_PROGRESS")
}
