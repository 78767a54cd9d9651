// Package provisionertest is a scripted fake CloudFormation endpoint for
// tests of code that drives stacks with the real
// github.com/aws/aws-sdk-go-v2/service/cloudformation client. It speaks
// the AWS Query protocol on the wire (form-encoded POSTs with Action and
// Version=2010-05-15; XML answers in the
// http://cloudformation.amazonaws.com/doc/2010-05-15/ namespace; errors as
// ErrorResponse documents with the right HTTP status), so the SDK's own
// serializers, deserializers, typed errors, paginators and retryer run
// unchanged. Tests script how each operation unfolds: slow stacks,
// rollbacks with resource-level root causes, stuck or exotic terminal
// states, throttling and 5xx.
//
// # Usage
//
//	f, srv := provisionertest.NewServer(t, provisionertest.Options{
//		Clock: clock.Now, // stacks progress by this clock
//		Script: func(op provisionertest.Op) provisionertest.Script {
//			if op.Action == "CreateStack" && op.StackName == "bad" {
//				return provisionertest.Script{Delay: time.Minute, Fail: true,
//					FailedResources: []provisionertest.ResourceFailure{{LogicalID: "Queue", Type: "AWS::SQS::Queue", Reason: "Access denied"}}}
//			}
//			return provisionertest.Script{Delay: 2 * time.Minute, Outputs: map[string]string{"QueueURL": "https://…"}}
//		},
//		Fault: func(c provisionertest.Call) *provisionertest.Fault {
//			if c.Action == "DescribeStacks" && c.ActionN%10 == 0 {
//				return provisionertest.Throttling()
//			}
//			return nil
//		},
//	})
//	client := cloudformation.NewFromConfig(f.Config(srv.URL))
//
// [CloudFormation.Config] builds an aws.Config for the fake without
// reading the environment. [CloudFormation.Stack], [CloudFormation.Stacks]
// and [CloudFormation.Calls] serve assertions; [CloudFormation.SetStatus]
// forces any of the 23 stack statuses.
//
// # What it models
//
// Actions: CreateStack, UpdateStack, DeleteStack, DescribeStacks,
// DescribeStackEvents, ListStacks, UpdateTerminationProtection and
// CancelUpdateStack. Any other Action is 400 InvalidAction (a missing one
// 400 MissingAction). The request parameters read are StackName,
// TemplateBody, TemplateURL, UsePreviousTemplate,
// Parameters.member.N.{ParameterKey,ParameterValue,UsePreviousValue},
// Tags.member.N.{Key,Value} (an empty Tags list clears an update's tags),
// Capabilities.member.N, RoleARN, ClientRequestToken, TimeoutInMinutes,
// EnableTerminationProtection, DisableRollback (also
// DeploymentConfig.DisableRollback), OnFailure, RetainResources.member.N,
// StackStatusFilter.member.N and NextToken; others are ignored.
//
// Stacks: IDs look like real ones,
// arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID, with UUIDs from a
// deterministic sequence (the same test gets the same IDs on every run).
// Every call that names a stack accepts its name or its stack ID. A name
// finds only a live stack (one not DELETE_COMPLETE); a stack ID also
// finds a deleted one where CloudFormation allows it (DescribeStacks,
// DescribeStackEvents, DeleteStack).
//
// Time: statuses progress lazily by [Options.Clock], on every call that
// looks at a stack (no background goroutines), so a test with a fake clock
// is deterministic and idle stacks cost nothing. Events get the time their
// step was due, not the time it was observed, with CloudFormation's
// millisecond precision, strictly increasing within a stack.
//
// Operations: a [Script] per operation ([Options.Script]) sets how long
// it stays in progress, whether it fails, which resources fail and why,
// the outputs, the rollback and cleanup times, or a terminal status
// outright. The transitions are those of real CloudFormation:
//
//	create:  CREATE_IN_PROGRESS → CREATE_COMPLETE
//	         failing: → ROLLBACK_IN_PROGRESS → ROLLBACK_COMPLETE
//	         (→ CREATE_FAILED with DisableRollback or OnFailure=DO_NOTHING;
//	         → DELETE_IN_PROGRESS → DELETE_COMPLETE with OnFailure=DELETE)
//	update:  UPDATE_IN_PROGRESS → UPDATE_COMPLETE_CLEANUP_IN_PROGRESS → UPDATE_COMPLETE
//	         failing: → UPDATE_ROLLBACK_IN_PROGRESS → UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS
//	         → UPDATE_ROLLBACK_COMPLETE, with the previous template, parameters,
//	         tags and outputs restored (→ UPDATE_FAILED with DisableRollback)
//	cancel:  UPDATE_IN_PROGRESS → UPDATE_ROLLBACK_IN_PROGRESS ("Stack update cancelled") → …
//	delete:  DELETE_IN_PROGRESS → DELETE_COMPLETE (failing: → DELETE_FAILED)
//
// A failing operation's events are those a provisioner digs a root cause
// from: the stack's *_IN_PROGRESS event with reason "User Initiated";
// each scripted resource's *_IN_PROGRESS event; at the failure, each
// resource's *_FAILED event in script order (the first is the root cause,
// the oldest *_FAILED resource event; later ones without a reason get
// "Resource creation cancelled" or "Resource update cancelled"); the
// stack's event, "The following resource(s) failed to create: [A, B].
// Rollback requested by user." (the list sorted by logical ID, as it does
// not tell the root cause); the resources' rollback events; the terminal
// stack event. StackStatusReason carries the failure text while the stack
// is in ROLLBACK_IN_PROGRESS, UPDATE_ROLLBACK_IN_PROGRESS, CREATE_FAILED,
// UPDATE_FAILED or DELETE_FAILED (and in a failed operation's
// [Script.FinalStatus]) and is empty in ROLLBACK_COMPLETE and
// UPDATE_ROLLBACK_COMPLETE, so the root cause of a finished rollback is
// found only in the events. Every event of an operation carries the
// operation's ClientRequestToken and OperationId.
//
// Calls and their errors:
//
//   - CreateStack: validates the stack name (a letter, then letters, digits
//     and hyphens, at most 128 characters), at most 50 tags, exactly one of
//     TemplateBody and TemplateURL, capability names, OnFailure,
//     TimeoutInMinutes and the token's pattern (400 ValidationError).
//     A live stack of that name is 400 AlreadyExistsException
//     "Stack [NAME] already exists" — except for a call carrying the
//     ClientRequestToken of the CreateStack that made that stack, which
//     succeeds with the same StackId and starts nothing: AWS documents the
//     token as the way to retry a CreateStack "so that CloudFormation knows
//     that you're not attempting to create a stack with the same name".
//     The same reading applies to UpdateStack's and DeleteStack's tokens
//     below. (It is the documented intent, not a measurement of AWS.)
//   - UpdateStack: "Stack [NAME] does not exist" for an unknown stack;
//     "Stack:ID is in STATUS state and can not be updated." unless the
//     stack is CREATE_COMPLETE, UPDATE_COMPLETE, UPDATE_ROLLBACK_COMPLETE,
//     IMPORT_COMPLETE, IMPORT_ROLLBACK_COMPLETE, CREATE_FAILED or
//     UPDATE_FAILED (so ROLLBACK_COMPLETE and every *_IN_PROGRESS state
//     refuse); "No updates are to be performed." when the template (body or
//     URL, compared as strings), the parameters (after UsePreviousValue)
//     and the tags are unchanged. All of these are 400 ValidationError. A
//     repeat of the token of the update in progress or last done succeeds
//     with the same StackId and starts nothing.
//   - DeleteStack: succeeds for a stack that does not exist or is already
//     deleted, and does nothing for one in DELETE_IN_PROGRESS or for a
//     repeat of the last delete's token (so retrying a DELETE_FAILED stack
//     takes a fresh token); starts a new delete from any
//     other state (also from DELETE_FAILED, where RetainResources is
//     allowed and reported as DELETE_SKIPPED events; elsewhere it is a
//     ValidationError), cutting short an operation in progress. A stack
//     with termination protection refuses: "Stack [NAME] cannot be deleted
//     while TerminationProtection is enabled".
//   - DescribeStacks: with StackName, one stack ("Stack with id X does not
//     exist" for an unknown name or ID, and for the name of a deleted
//     stack; its ID still returns it as DELETE_COMPLETE); without, all live
//     stacks in creation order, [Options.PageSize] per page, with NextToken.
//     Paging is O(log n + page) over an index, not a sort per page.
//   - DescribeStackEvents: newest first, paged; "Stack [NAME] does not
//     exist".
//   - ListStacks: every stack, deleted ones included, in creation order,
//     filtered by StackStatusFilter, paged.
//   - UpdateTerminationProtection: sets the flag on a live stack.
//   - CancelUpdateStack: only from UPDATE_IN_PROGRESS ("CancelUpdateStack
//     cannot be called from current stack status" otherwise).
//
// [Options.RequiredCapabilities] makes a CreateStack or UpdateStack that
// lacks one fail with 400 InsufficientCapabilitiesException "Requires
// capabilities : [CAPABILITY_IAM]". [Options.StackLimit] makes CreateStack
// fail with 400 LimitExceededException beyond that many live stacks.
//
// Faults: [Options.Fault] sees every call before it is handled and can
// answer it with any error ([Throttling], [InternalFailure],
// [ServiceUnavailable] or a [Fault] of one's own), which the SDK's
// retryer then handles as it would AWS's; with [Fault.Applied] the call
// takes effect first, as when an answer is lost on its way back.
//
// The texts of AlreadyExistsException, "does not exist", "No updates are
// to be performed.", "can not be updated", TerminationProtection,
// "Requires capabilities" and Throttling follow AWS's as reported in the
// wild and in AWS's documentation. The texts of the
// other validation errors follow AWS's form ("1 validation error
// detected: …") but are not checked against AWS: match them by code.
//
// # What it does not model
//
// Templates are not parsed or executed: no resources exist, outputs come
// from the script only, template parameters' defaults, types,
// AllowedValues and NoEcho are unknown (so parameters not sent in an
// UpdateStack are dropped rather than defaulted, and no value is masked),
// and a TemplateURL is never fetched. Not modelled either: change sets,
// drift, stack sets, nested stacks, imports, stack policies, rollback
// triggers, notifications, hooks, IAM and the RoleARN's permissions,
// request signatures (any credentials work), the Version parameter,
// capability checks beyond RequiredCapabilities, TimeoutInMinutes
// (stored, never enforced), the 90-day retention of deleted stacks (kept
// forever), resource events on success paths (only failing resources get
// events), API rate limits other than the scripted faults, and every
// action not listed above. DeleteStack cuts short any operation in
// progress at once, where real CloudFormation may wait for resources in
// flight.
//
// # Concurrency
//
// A CloudFormation is safe for concurrent use; one mutex guards its
// stacks. Options.Script and Options.Fault are called without it held, so
// they may call the fake's methods, and may be called concurrently.
package provisionertest
