// Command osb is a command-line client for any Open Service Broker API
// v2.17 broker: the part the walkthrough gave to `svcat`. It lists the
// catalog, provisions, updates and deprovisions instances, binds and
// unbinds, and shows instances, bindings and operations, speaking to the
// broker exactly as a platform does, through brokerkit's own typed client
// (package brokertest).
//
// # Usage
//
//	osb [global flags] <command> [args] [flags]
//
//	osb catalog
//	osb provision opensource-blog-sqs-demo sqs standard -p VisibilityTimeout=60 -wait
//	osb bind opensource-blog-sqs-demo os-blog-sqs-binding -o secret | kubectl apply -f -
//	osb unbind opensource-blog-sqs-demo os-blog-sqs-binding
//	osb deprovision opensource-blog-sqs-demo -wait
//
// Services and plans are given by name and resolved through the broker's
// catalog (an ID is accepted too). Commands that need an instance's
// service and plan (update, deprovision, bind, unbind, get-binding) take
// them from -service and -plan, or else fetch the instance, which works
// when the service is instances_retrievable.
//
// Global flags, which every command also accepts after its arguments:
//
//	-url URL            the broker's base URL (env OSB_URL)
//	-user NAME          basic-auth user name (env OSB_USER)
//	-password PASSWORD  basic-auth password (env OSB_PASSWORD); never printed
//	-api-version V      X-Broker-API-Version (default 2.17)
//	-o FORMAT           table (default), json, or secret (bind and get-binding)
//	-timeout D          bound on the whole command, polling included (default 10m)
//
// Commands:
//
//	catalog
//	provision <instance-id> <service> <plan> [-p key=value ...] [-params JSON] [-context JSON] [-org GUID] [-space GUID] [-wait]
//	update <instance-id> [-service S] [-plan P] [-p key=value ...] [-params JSON] [-context JSON] [-wait]
//	deprovision <instance-id> [-service S -plan P] [-wait]
//	last-operation <instance-id> [-operation TOKEN] [-binding BINDING-ID] [-service S -plan P]
//	get-instance <instance-id> [-service S -plan P]
//	bind <instance-id> <binding-id> [-service S -plan P] [-p key=value ...] [-params JSON] [-app-guid G] [-wait] [-secret-name N] [-namespace NS]
//	get-binding <instance-id> <binding-id> [-service S -plan P] [-secret-name N] [-namespace NS]
//	unbind <instance-id> <binding-id> [-service S -plan P] [-wait]
//
// A -p value is read as JSON when it parses as JSON (60, true, {"a":1},
// "60"), else as a string: -p Name=queue sends "queue", -p Size=60 sends
// the number 60, and -p 'Size="60"' the string "60". -p pairs are applied
// over -params.
//
// Provision, update, deprovision, bind and unbind always send
// accepts_incomplete=true, as a platform that can poll does. With -wait
// they poll last_operation, honouring the broker's Retry-After, until the
// operation ends; a failed operation is an error.
//
// # Output
//
// -o table prints a human summary. -o json prints one JSON document on
// standard output: the broker's body as received for catalog,
// last-operation, get-instance and get-binding, and for the other
// commands an object {"status": N, "response": BODY, "last_operation":
// {...}} (the last only after -wait). -o secret, for bind and get-binding,
// prints the credentials as a Kubernetes Secret manifest (apiVersion v1,
// kind Secret, the credentials' keys as they are under stringData, named
// by -secret-name, by default the binding ID) ready for kubectl apply.
// With json and secret, progress lines go to standard error so that
// standard output holds only the document.
//
// Credentials appear only in the output of bind and get-binding, which
// exist to show them. Instance parameters that the plan's schema marks
// writeOnly (secret) are printed as <redacted>. The password is never
// printed.
//
// # Exit status
//
// 0 on success; 1 when the broker answers with an error (the OSB error
// body goes to standard error), an operation fails, or the broker cannot
// be reached; 2 for a usage error.
package main
