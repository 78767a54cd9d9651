// Package cloudformation is a [provisioner.Provisioner] that keeps each
// service instance in one AWS CloudFormation stack.
//
// Usage:
//
//	limiter := rate.NewLimiter(2, 4) // one per AWS account and region
//	stacks, err := cloudformation.New(cloudformation.Options{
//		Client:    cloudformation.NewClient(awsConfig, limiter),
//		Catalog:   index,
//		Templates: cloudformation.StaticTemplates{planID: {Body: body, Parameters: specs}},
//		BrokerID:  "my-broker",
//	})
//
// # Stacks, names, tokens and tags
//
// An instance's stack is named "<prefix>-<service name>-<instance ID>",
// made valid for CloudFormation (see [StackName]); every stack carries tags
// naming the broker, instance, service, plan, template and platform
// context, and the "brokerkit:instance-id" tag is how a stack is known to
// be an instance's own. Every call that starts work sends a
// ClientRequestToken derived from the operation's ID, so a call repeated
// after a crash is the same request to CloudFormation, and the events of
// one operation can be told from those of earlier ones.
//
// # Templates and parameters
//
// A [TemplateSource] gives the template of each plan. The template an
// instance was created from is pinned to it: an update sends
// UsePreviousTemplate unless it changes plan or asks for a maintenance
// upgrade, so editing the catalog never silently changes existing stacks.
// Parameters are sent only when the template declares them, converted to
// CloudFormation's strings from JSON values (json.Number and float64
// without exponent, booleans as "true"/"false", lists comma-joined for
// list types); on update, every parameter the user did not name keeps its
// previous value (UsePreviousValue), so secret values are never needed
// again. Values a plan fixes ([Template].FixedParameters) always win over
// the user's.
//
// # States
//
// Observe maps each of the 23 stack statuses to an OSB state for the kind
// of operation that observes it, through one table (see [Judge]). A
// failure's description is its root cause: the oldest failed resource
// event of that operation, not CloudFormation's summary ("The following
// resource(s) failed to create") and not failures of earlier operations.
// The SDK's waiters are not used: they take some rollbacks for success.
//
// # Errors
//
// SDK errors are classified by type and code with errors.As: throttling
// and HTTP 5xx are retryable; quotas (LimitExceededException) and a stack
// in a state that refuses the operation are [provisioner.Terminal] with
// [provisioner.ReasonRefused]; invalid templates or parameters are
// Terminal with [provisioner.ReasonInvalid]. No error string or log
// record holds a parameter value: values the call sent are cut out of
// CloudFormation's messages.
//
// # Calls and rate limits
//
// Create makes one call (more only when the stack's name is taken);
// Update two (it reads the stack's parameters and state first); Delete
// two (it reads the stack first, to answer "does not exist" at once and
// to honour termination protection); Observe one, plus event reads for a
// failure. [Stacks.ObserveBatch] reads every stack with one paged
// DescribeStacks when it observes at least Options.BatchMin instances.
// [NewClient] builds an SDK client whose every attempt, retries included,
// waits on a shared rate limiter, and whose retryer does not retry quota
// errors.
//
// A *Stacks is safe for concurrent use. It has no zero value: use [New].
package cloudformation
