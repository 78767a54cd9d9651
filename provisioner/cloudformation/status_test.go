package cloudformation

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/provisioner"
)

// verdict abbreviations for the expectations below.
var (
	vIP = Verdict{State: provisioner.InProgress}
	vOK = Verdict{State: provisioner.Succeeded}
	vF  = Verdict{State: provisioner.Failed}
	// failed update or delete: usable, repeatable
	vFuu = Verdict{State: provisioner.Failed, InstanceUsable: ptr(true), UpdateRepeatable: ptr(true)}
	vFnn = Verdict{State: provisioner.Failed, InstanceUsable: ptr(false), UpdateRepeatable: ptr(false)}
	vFnu = Verdict{State: provisioner.Failed, InstanceUsable: ptr(false), UpdateRepeatable: ptr(true)}
	vFn  = Verdict{State: provisioner.Failed, InstanceUsable: ptr(false)}
)

// TestJudge has one row per stack status, written out independently of
// the table in status.go, with the reason for each verdict.
func TestJudge(t *testing.T) {
	tests := []struct {
		status                         types.StackStatus
		provision, update, deprovision Verdict
		reason                         string
	}{
		{types.StackStatusCreateInProgress, vIP, vIP, vIP, "creating; an update or delete has not shown yet"},
		{types.StackStatusCreateFailed, vF, vFnn, vIP, "a create without rollback failed; an update cannot have left it there"},
		{types.StackStatusCreateComplete, vOK, vIP, vIP, "created; an update or delete that returned has not shown yet"},
		{types.StackStatusRollbackInProgress, vIP, vIP, vIP, "a failed create is still rolling back: in progress"},
		{types.StackStatusRollbackFailed, vF, vFnn, vIP, "a failed create could not roll back"},
		{types.StackStatusRollbackComplete, vF, vFnn, vIP, "a failed create rolled back: the provision failed"},
		{types.StackStatusDeleteInProgress, vIP, vIP, vIP, "being deleted"},
		{types.StackStatusDeleteFailed, vF, vFnn, vFn, "a delete failed: the deprovision failed, instance not usable, a later DELETE retries"},
		{types.StackStatusDeleteComplete, vF, vFnn, vOK, "deleted: only a deprovision succeeds"},
		{types.StackStatusUpdateInProgress, vIP, vIP, vIP, "updating"},
		{types.StackStatusUpdateCompleteCleanupInProgress, vIP, vIP, vIP, "updated, cleaning up: the next update would be refused, so wait"},
		{types.StackStatusUpdateComplete, vOK, vOK, vIP, "updated: the update succeeded; an adopted stack works"},
		{types.StackStatusUpdateFailed, vF, vFnu, vIP, "an update without rollback stopped half way: not usable, an update may fix it"},
		{types.StackStatusUpdateRollbackInProgress, vIP, vIP, vIP, "a failed update is rolling back"},
		{types.StackStatusUpdateRollbackFailed, vF, vFnn, vIP, "a failed update could not roll back: an operator must continue the rollback"},
		{types.StackStatusUpdateRollbackCompleteCleanupInProgress, vIP, vIP, vIP, "rolled back, cleaning up"},
		{types.StackStatusUpdateRollbackComplete, vOK, vFuu, vIP, "a failed update rolled back: the instance works as before"},
		{types.StackStatusReviewInProgress, vIP, vIP, vIP, "a change set awaits execution"},
		{types.StackStatusImportInProgress, vIP, vIP, vIP, "importing"},
		{types.StackStatusImportComplete, vOK, vIP, vIP, "imported: no update leaves this status"},
		{types.StackStatusImportRollbackInProgress, vIP, vIP, vIP, "an import is rolling back"},
		{types.StackStatusImportRollbackFailed, vF, vFnn, vIP, "an import could not roll back"},
		{types.StackStatusImportRollbackComplete, vOK, vIP, vIP, "an import rolled back: the stack works; no update leaves this status"},
	}
	covered := map[types.StackStatus]bool{}
	for _, tt := range tests {
		covered[tt.status] = true
		t.Run(string(tt.status), func(t *testing.T) {
			for _, k := range []struct {
				kind provisioner.Kind
				want Verdict
			}{{provisioner.KindProvision, tt.provision}, {provisioner.KindUpdate, tt.update}, {provisioner.KindDeprovision, tt.deprovision}} {
				if diff := cmp.Diff(k.want, Judge(k.kind, string(tt.status))); diff != "" {
					t.Errorf("%s for %s (%s) (-want +got):\n%s", tt.status, k.kind, tt.reason, diff)
				}
			}
		})
	}
	for _, st := range types.StackStatus("").Values() {
		if !covered[st] {
			t.Errorf("the SDK's status %s has no row in this test", st)
		}
		if _, ok := statuses[st]; !ok {
			t.Errorf("the SDK's status %s has no row in the table", st)
		}
	}
	if n := len(types.StackStatus("").Values()); n != 23 || len(statuses) != 23 {
		t.Errorf("the SDK has %d statuses and the table %d rows; want 23", n, len(statuses))
	}
}

func TestJudgeUnknown(t *testing.T) {
	if got := Judge(provisioner.KindUpdate, "FUTURE_IN_PROGRESS"); got.State != provisioner.InProgress {
		t.Errorf("an unknown *_IN_PROGRESS status: %v, want in progress", got.State)
	}
	if got := Judge(provisioner.KindUpdate, "FUTURE_STATE"); got.State != provisioner.Failed || got.InstanceUsable == nil || *got.InstanceUsable {
		t.Errorf("an unknown settled status for an update: %+v, want failed, not usable", got)
	}
	if got := Judge("bogus", "CREATE_COMPLETE"); got.State != provisioner.Failed {
		t.Errorf("an unknown kind: %v, want failed", got.State)
	}
}
