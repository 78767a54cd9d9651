// Package credentials decides where the broker's own AWS credentials come
// from: the broker's base identity, and roles it assumes in the accounts
// where instances live.
//
// # Base identity
//
// [Options.Base] is an aws.Config. Load it with config.LoadDefaultConfig,
// which follows the SDK's default chain: environment variables
// (AWS_ACCESS_KEY_ID, …), the shared config and credentials files and
// AWS_PROFILE, web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN,
// which EKS IRSA and Pod Identity set), the ECS container role and the EC2
// instance role. For fixed keys use [Static]. Whatever else Base carries
// (HTTP client, retryer, base endpoint, API options) is kept in every
// configuration the package returns.
//
//	base, err := config.LoadDefaultConfig(ctx)
//	src, err := credentials.New(credentials.Options{Base: base, DefaultRegion: "eu-west-1"})
//	id, err := src.Check(ctx) // who the broker runs as; fail at start, not at the first provision
//
// # One role per target account
//
// A [Target] says what an instance runs as: an account and a role in it
// (AccountID and RoleName, or RoleARN), the ExternalID that the role's
// trust policy asks for, a region, and optionally a session name and
// duration. [Source.Config] returns an aws.Config whose credentials assume
// that role through STS AssumeRole with the base identity; the zero Target
// returns the base configuration in the default region.
//
//	cfg, err := src.Config(ctx, credentials.Target{
//		AccountID: "111111111111", RoleName: "broker", ExternalID: x, Region: "us-east-1",
//	})
//	client := sqs.NewFromConfig(cfg)
//
// Where a Target comes from (plan-fixed values, the request's
// target_account_id and target_role_name, a resolver) is the caller's
// choice. Config validates it (12-digit account, IAM role name and ARN
// rules, external ID of 2–1224 characters, duration 15m–12h) and returns a
// [*ValidationError], matched by [ErrInvalidTarget], naming the field.
//
// # Caching
//
// A Source keeps one configuration per distinct Target (account, role ARN,
// external ID, region, session name, duration), with its credentials in an
// aws.CredentialsCache: the role is assumed once per session, by the first
// request that needs credentials, and again [ExpiryWindow] before the
// session ends, never once per request. Config itself makes no AWS call.
// Roles are assumed with the base identity through an STS client in the
// target's region (one per region, built once), unless Options.STS is set.
// The cache lives as long as the Source and is not bounded.
//
// # Remembering the Target
//
// This package is stateless beyond that cache: it does not know which
// instance used which Target. The caller stores the Target with the
// instance when it provisions it, and passes the same Target for update,
// bind and deprovision, so that they reach the same account, role and
// region even if the plan or the broker's defaults change later.
//
// # Secrets
//
// Credentials and secret keys never appear in this package's errors or
// logs. A Target's String, GoString and LogValue print its account, role and
// region but not its ExternalID, which the package treats as a secret;
// validation errors never echo it. Encoding a Target keeps all fields,
// because the instance store needs them.
//
// # Concurrency
//
// A Source is safe for concurrent use; so are the configurations it returns.
// Concurrent first calls for one Target share one credentials provider.
//
// # What it does not do
//
// It does not chain roles (assume a role from an assumed role), send
// session policies, tags or MFA codes, or evict cached targets. Its expiry
// handling is that of aws.CredentialsCache, which reads the system clock:
// there is no Clock option.
package credentials
