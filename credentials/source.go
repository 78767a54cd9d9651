package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Defaults of [Options].
const (
	DefaultPartition       = "aws"
	DefaultRoleSessionName = "brokerkit"
	DefaultDuration        = time.Hour
	// ExpiryWindow is how long before an assumed session expires its
	// credentials are refreshed, so that a request signed just before
	// expiry does not fail with ExpiredToken.
	ExpiryWindow = time.Minute
)

// AssumeRoleAPI is the one STS call a [Source] makes to assume a role.
// *sts.Client implements it.
type AssumeRoleAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

// AssumeRoleFunc adapts a function to [AssumeRoleAPI].
type AssumeRoleFunc func(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)

// AssumeRole calls f.
func (f AssumeRoleFunc) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	return f(ctx, in, optFns...)
}

var (
	_ AssumeRoleAPI                = (*sts.Client)(nil)
	_ AssumeRoleAPI                = AssumeRoleFunc(nil)
	_ stscreds.AssumeRoleAPIClient = AssumeRoleAPI(nil)
)

// Options configure a [Source]. New copies them.
type Options struct {
	// Base is the broker's own AWS configuration, required. Load it with
	// config.LoadDefaultConfig, which follows the SDK's default chain
	// (environment, shared config and profile, web identity for EKS IRSA,
	// ECS container role, EC2 instance role), or build it with [Static].
	// Its Credentials must be set; everything else (HTTP client, retryer,
	// endpoint, middleware) is kept in every configuration the Source
	// returns.
	Base aws.Config
	// DefaultRegion is the region of a Target without one. Empty means
	// Base.Region.
	DefaultRegion string
	// Partition is the ARN partition used to build a role ARN from
	// AccountID and RoleName: "aws" (the default), "aws-cn",
	// "aws-us-gov", ...
	Partition string
	// RoleSessionName is the session name of a Target without one.
	// Default "brokerkit".
	RoleSessionName string
	// Duration is the session duration of a Target without one, 15m to
	// 12h. Default 1h.
	Duration time.Duration
	// STS assumes the roles. Nil means one sts.NewFromConfig(Base) client
	// per target region, built on first use, so that each target's STS
	// endpoint is regional and in the partition of its region. Tests set
	// a fake (see [AssumeRoleFunc]).
	STS AssumeRoleAPI
	// NewIdentityClient returns the client that [Source.CallerIdentity]
	// calls with a target's configuration. Nil means sts.NewFromConfig.
	NewIdentityClient func(aws.Config) CallerIdentityAPI
	// Logger receives the broker identity that [Source.Check] finds. Nil
	// discards it.
	Logger *slog.Logger
}

// Source hands out the AWS configuration that the broker uses for each
// [Target]: its own for the zero Target, an assumed role's otherwise.
//
// A Source is safe for concurrent use. It caches one configuration per
// distinct Target, for its lifetime: the cache is not bounded, which suits
// the small set of accounts and roles a broker serves.
type Source struct {
	opts Options

	mu    sync.Mutex
	cache map[resolved]*entry
	sts   map[string]AssumeRoleAPI // by region, when Options.STS is nil
}

// entry is the cached configuration of one resolved Target.
type entry struct {
	cfg aws.Config

	once     sync.Once
	identity CallerIdentityAPI
}

// Static returns a base configuration with fixed keys, for
// [Options.Base]. session is empty except for temporary keys. The region
// is left empty: set it, or Options.DefaultRegion.
func Static(accessKey, secretKey, session string) aws.Config {
	return aws.Config{
		Credentials: awscreds.NewStaticCredentialsProvider(accessKey, secretKey, session),
	}
}

// New returns a Source for opts, after applying optFns to a copy of opts.
// It makes no AWS call: use [Source.Check] to learn, at start, whether the
// base credentials work. It fails if Base has no Credentials or an option
// is invalid.
func New(opts Options, optFns ...func(*Options)) (*Source, error) {
	o := opts
	o.Base = opts.Base.Copy()
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Base.Credentials == nil {
		return nil, errors.New("credentials: Options.Base has no Credentials: load it with config.LoadDefaultConfig or build it with Static")
	}
	if o.DefaultRegion == "" {
		o.DefaultRegion = o.Base.Region
	}
	if o.DefaultRegion != "" && !regionRE.MatchString(o.DefaultRegion) {
		return nil, invalid("Options.DefaultRegion", fmt.Sprintf("%q is not a region name", o.DefaultRegion))
	}
	if o.Partition == "" {
		o.Partition = DefaultPartition
	}
	if !partitionRE.MatchString(o.Partition) {
		return nil, invalid("Options.Partition", fmt.Sprintf("%q is not a partition name", o.Partition))
	}
	if o.RoleSessionName == "" {
		o.RoleSessionName = DefaultRoleSessionName
	}
	if !sessionNameRE.MatchString(o.RoleSessionName) {
		return nil, invalid("Options.RoleSessionName", fmt.Sprintf("%q is not 2 to 64 characters of letters, digits and +=,.@_-", o.RoleSessionName))
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if err := checkDuration("Options.Duration", o.Duration); err != nil {
		return nil, err
	}
	if o.NewIdentityClient == nil {
		o.NewIdentityClient = func(cfg aws.Config) CallerIdentityAPI { return sts.NewFromConfig(cfg) }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Source{opts: o, cache: make(map[resolved]*entry), sts: make(map[string]AssumeRoleAPI)}, nil
}

// Config returns the AWS configuration for t. For a zero Target (or one
// with only Region) it is Options.Base in the target's or the default
// region. Otherwise its Credentials assume the target's role through STS,
// with the target's external ID, session name and duration, and refresh
// themselves a minute before the session ends.
//
// Config makes no AWS call: a role that cannot be assumed fails the first
// request made with the configuration (or Credentials.Retrieve) with the
// STS error. Calls with equal targets return configurations that share one
// credentials cache, so a role is assumed once per session, not once per
// request. An invalid t gives a [*ValidationError].
func (s *Source) Config(ctx context.Context, t Target) (aws.Config, error) {
	e, err := s.entry(t)
	if err != nil {
		return aws.Config{}, err
	}
	return e.cfg.Copy(), nil
}

func (s *Source) entry(t Target) (*entry, error) {
	r, err := s.opts.resolve(t)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cache[r]; ok {
		return e, nil
	}
	// Building the entry makes no call, so it is done under the lock:
	// concurrent first calls for one key cannot build two providers.
	cfg := s.opts.Base.Copy()
	cfg.Region = r.region
	if r.roleARN != "" {
		p := stscreds.NewAssumeRoleProvider(s.stsClient(r.region), r.roleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = r.sessionName
			o.Duration = r.duration
			if r.externalID != "" {
				o.ExternalID = aws.String(r.externalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = ExpiryWindow
		})
	}
	e := &entry{cfg: cfg}
	s.cache[r] = e
	return e, nil
}

// stsClient returns the client that assumes roles for targets in region.
// s.mu must be held.
func (s *Source) stsClient(region string) AssumeRoleAPI {
	if s.opts.STS != nil {
		return s.opts.STS
	}
	c, ok := s.sts[region]
	if !ok {
		c = sts.NewFromConfig(s.opts.Base, func(o *sts.Options) { o.Region = region })
		s.sts[region] = c
	}
	return c
}
