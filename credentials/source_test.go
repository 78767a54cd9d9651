package credentials_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/go-cmp/cmp"

	"github.com/brokerkit/brokerkit/credentials"
	"github.com/brokerkit/brokerkit/internal/canary"
)

// fakeSTS is an AssumeRoleAPI that records its inputs and hands out
// numbered credentials. It does not model trust policies, role existence
// or external ID checks: every call succeeds unless err is set.
type fakeSTS struct {
	calls atomic.Int64
	mu    sync.Mutex
	ins   []*sts.AssumeRoleInput
	// expires returns the Expiration of the next session; nil means an hour.
	expires func() time.Time
	// err, if set, is returned by every call.
	err error
}

func (f *fakeSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	n := f.calls.Add(1)
	f.mu.Lock()
	f.ins = append(f.ins, in)
	f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	exp := time.Now().Add(time.Hour)
	if f.expires != nil {
		exp = f.expires()
	}
	return &sts.AssumeRoleOutput{
		Credentials: &ststypes.Credentials{
			AccessKeyId:     aws.String(fmt.Sprintf("ASIAFAKE%d", n)),
			SecretAccessKey: aws.String(fmt.Sprintf("fake-secret-%d", n)),
			SessionToken:    aws.String("fake-token"),
			Expiration:      aws.Time(exp),
		},
		AssumedRoleUser: &ststypes.AssumedRoleUser{
			Arn:           aws.String("arn:aws:sts::111111111111:assumed-role/r/s"),
			AssumedRoleId: aws.String("AROAFAKE:s"),
		},
	}, nil
}

func (f *fakeSTS) inputs() []*sts.AssumeRoleInput {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sts.AssumeRoleInput(nil), f.ins...)
}

// baseSecret is the base identity's secret key: the repository-wide canary.
const baseSecret = canary.Secret

func newSource(t *testing.T, f *fakeSTS, optFns ...func(*credentials.Options)) *credentials.Source {
	t.Helper()
	canary.Plant(t)
	base := credentials.Static("AKIABASE", baseSecret, "")
	base.Region = "us-east-1"
	src, err := credentials.New(credentials.Options{Base: base, STS: f, Logger: canary.Logger(t)}, optFns...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return src
}

// sent is the part of an AssumeRoleInput this package decides.
type sent struct {
	RoleArn, ExternalId, RoleSessionName string
	DurationSeconds                      int32
}

func TestConfigAssumeRoleInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason string
		opts   func(*credentials.Options)
		target credentials.Target
		want   sent
	}{
		{
			reason: "defaults: role ARN built in partition aws, session brokerkit, one hour",
			target: credentials.Target{AccountID: "111111111111", RoleName: "broker"},
			want:   sent{RoleArn: "arn:aws:iam::111111111111:role/broker", RoleSessionName: "brokerkit", DurationSeconds: 3600},
		},
		{
			reason: "target's external ID, session name and duration are sent",
			target: credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: "ext-123", SessionName: "inst-42", Duration: 2 * time.Hour},
			want:   sent{RoleArn: "arn:aws:iam::111111111111:role/broker", ExternalId: "ext-123", RoleSessionName: "inst-42", DurationSeconds: 7200},
		},
		{
			reason: "options' partition, session name and duration are the defaults",
			opts: func(o *credentials.Options) {
				o.Partition, o.RoleSessionName, o.Duration = "aws-cn", "mybroker", 15*time.Minute
			},
			target: credentials.Target{AccountID: "222222222222", RoleName: "r"},
			want:   sent{RoleArn: "arn:aws-cn:iam::222222222222:role/r", RoleSessionName: "mybroker", DurationSeconds: 900},
		},
		{
			reason: "a role ARN with a path is used as given",
			target: credentials.Target{RoleARN: "arn:aws-us-gov:iam::333333333333:role/team/a/broker", ExternalID: "x1"},
			want:   sent{RoleArn: "arn:aws-us-gov:iam::333333333333:role/team/a/broker", ExternalId: "x1", RoleSessionName: "brokerkit", DurationSeconds: 3600},
		},
		{
			reason: "a role ARN that agrees with AccountID and RoleName",
			target: credentials.Target{AccountID: "333333333333", RoleName: "broker", RoleARN: "arn:aws:iam::333333333333:role/broker"},
			want:   sent{RoleArn: "arn:aws:iam::333333333333:role/broker", RoleSessionName: "brokerkit", DurationSeconds: 3600},
		},
	}
	for _, tc := range tests {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			f := &fakeSTS{}
			var fns []func(*credentials.Options)
			if tc.opts != nil {
				fns = append(fns, tc.opts)
			}
			src := newSource(t, f, fns...)
			cfg, err := src.Config(context.Background(), tc.target)
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if got := f.calls.Load(); got != 0 {
				t.Errorf("Config made %d AssumeRole calls, want 0 (credentials are fetched lazily)", got)
			}
			creds, err := cfg.Credentials.Retrieve(context.Background())
			if err != nil {
				t.Fatalf("Retrieve: %v", err)
			}
			if creds.AccessKeyID != "ASIAFAKE1" {
				t.Errorf("AccessKeyID = %q, want the assumed session's ASIAFAKE1", creds.AccessKeyID)
			}
			ins := f.inputs()
			if len(ins) != 1 {
				t.Fatalf("%d AssumeRole calls, want 1", len(ins))
			}
			got := sent{aws.ToString(ins[0].RoleArn), aws.ToString(ins[0].ExternalId), aws.ToString(ins[0].RoleSessionName), aws.ToInt32(ins[0].DurationSeconds)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AssumeRole input (-want +got):\n%s", diff)
			}
			if ins[0].ExternalId != nil && aws.ToString(ins[0].ExternalId) == "" {
				t.Errorf("an empty ExternalId was sent; want none")
			}
		})
	}
}

func TestConfigZeroTargetIsBase(t *testing.T) {
	t.Parallel()
	f := &fakeSTS{}
	src := newSource(t, f)
	ctx := context.Background()
	for _, tc := range []struct {
		target     credentials.Target
		wantRegion string
	}{
		{credentials.Target{}, "us-east-1"},
		{credentials.Target{Region: "eu-west-1"}, "eu-west-1"},
	} {
		cfg, err := src.Config(ctx, tc.target)
		if err != nil {
			t.Fatalf("Config(%v): %v", tc.target, err)
		}
		if cfg.Region != tc.wantRegion {
			t.Errorf("Config(%v).Region = %q, want %q", tc.target, cfg.Region, tc.wantRegion)
		}
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			t.Fatalf("Retrieve: %v", err)
		}
		if creds.AccessKeyID != "AKIABASE" {
			t.Errorf("AccessKeyID = %q, want the base AKIABASE", creds.AccessKeyID)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Errorf("%d AssumeRole calls for the base identity, want 0", n)
	}
}

func TestDefaultRegionOption(t *testing.T) {
	t.Parallel()
	src := newSource(t, &fakeSTS{}, func(o *credentials.Options) { o.DefaultRegion = "ap-south-1" })
	cfg, err := src.Config(context.Background(), credentials.Target{AccountID: "111111111111", RoleName: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "ap-south-1" {
		t.Errorf("Region = %q, want DefaultRegion ap-south-1", cfg.Region)
	}
}

func TestConfigCachesOneProviderPerTarget(t *testing.T) {
	t.Parallel()
	f := &fakeSTS{}
	src := newSource(t, f)
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: "ext-1", Region: "us-west-2"}
	ctx := context.Background()
	var wg sync.WaitGroup
	keys := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() {
			cfg, err := src.Config(ctx, target)
			if err != nil {
				errs[i] = err
				return
			}
			creds, err := cfg.Credentials.Retrieve(ctx)
			keys[i], errs[i] = creds.AccessKeyID, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if keys[i] != "ASIAFAKE1" {
			t.Errorf("call %d got key %q, want the one session ASIAFAKE1", i, keys[i])
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d AssumeRole calls for 100 concurrent Config+Retrieve of one target, want 1", n)
	}
}

func TestConfigDifferentTargetsDifferentCredentials(t *testing.T) {
	t.Parallel()
	f := &fakeSTS{}
	src := newSource(t, f)
	ctx := context.Background()
	base := credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: "ext-1", Region: "us-east-1"}
	variants := []credentials.Target{base}
	for _, mod := range []func(*credentials.Target){
		func(t *credentials.Target) { t.AccountID = "222222222222" },
		func(t *credentials.Target) { t.RoleName = "other" },
		func(t *credentials.Target) { t.ExternalID = "ext-2" },
		func(t *credentials.Target) { t.Region = "eu-west-1" },
		func(t *credentials.Target) { t.SessionName = "other-session" },
		func(t *credentials.Target) { t.Duration = 30 * time.Minute },
	} {
		v := base
		mod(&v)
		variants = append(variants, v)
	}
	seen := map[aws.CredentialsProvider]credentials.Target{}
	for _, v := range variants {
		cfg, err := src.Config(ctx, v)
		if err != nil {
			t.Fatalf("Config(%v): %v", v, err)
		}
		if prev, ok := seen[cfg.Credentials]; ok {
			t.Errorf("%v and %v share a credentials provider", prev, v)
		}
		seen[cfg.Credentials] = v
		if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n, want := f.calls.Load(), int64(len(variants)); n != want {
		t.Errorf("%d AssumeRole calls, want %d (one per target)", n, want)
	}
	// Asking again for the first target reuses its provider.
	cfg, _ := src.Config(ctx, base)
	if seen[cfg.Credentials] != base {
		t.Errorf("second Config(%v) returned a new provider", base)
	}
}

func TestExpiredSessionIsRefreshed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker"}
	for _, tc := range []struct {
		reason    string
		expiresIn time.Duration
		want      int64
	}{
		{"a live session is reused", time.Hour, 1},
		{"a session inside the expiry window is refreshed", credentials.ExpiryWindow / 2, 2},
		{"an expired session is refreshed", -time.Second, 2},
	} {
		f := &fakeSTS{expires: func() time.Time { return time.Now().Add(tc.expiresIn) }}
		src := newSource(t, f)
		cfg, err := src.Config(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
				t.Fatalf("%s: Retrieve: %v", tc.reason, err)
			}
		}
		if n := f.calls.Load(); n != tc.want {
			t.Errorf("%s: %d AssumeRole calls for two Retrieves, want %d", tc.reason, n, tc.want)
		}
	}
}

func TestAssumeRoleErrorReachesCaller(t *testing.T) {
	t.Parallel()
	stsErr := errors.New("AccessDenied: not authorized to perform sts:AssumeRole")
	f := &fakeSTS{err: stsErr}
	src := newSource(t, f)
	cfg, err := src.Config(context.Background(), credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: "ext-CANARY-1234"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cfg.Credentials.Retrieve(context.Background())
	if !errors.Is(err, stsErr) {
		t.Fatalf("Retrieve error = %v, want it to wrap the STS error", err)
	}
	if strings.Contains(err.Error(), "ext-CANARY-1234") {
		t.Errorf("error %q contains the external ID", err)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	const secretExt = "SECRET-EXT-CANARY" // valid charset; used where another field is wrong
	tests := []struct {
		reason string
		target credentials.Target
		field  string
	}{
		{"account of 11 digits", credentials.Target{AccountID: "11111111111", RoleName: "r"}, "AccountID"},
		{"account with letters", credentials.Target{AccountID: "11111111111a", RoleName: "r"}, "AccountID"},
		{"role name without account", credentials.Target{RoleName: "r"}, "AccountID"},
		{"account without role", credentials.Target{AccountID: "111111111111"}, "RoleName"},
		{"role name with a space", credentials.Target{AccountID: "111111111111", RoleName: "my role"}, "RoleName"},
		{"role name with a path", credentials.Target{AccountID: "111111111111", RoleName: "team/r"}, "RoleName"},
		{"role name of 65 characters", credentials.Target{AccountID: "111111111111", RoleName: strings.Repeat("r", 65)}, "RoleName"},
		{"role ARN of a user", credentials.Target{RoleARN: "arn:aws:iam::111111111111:user/u"}, "RoleARN"},
		{"role ARN with a short account", credentials.Target{RoleARN: "arn:aws:iam::1111:role/r"}, "RoleARN"},
		{"role ARN disagreeing with AccountID", credentials.Target{AccountID: "222222222222", RoleARN: "arn:aws:iam::111111111111:role/r"}, "AccountID"},
		{"role ARN disagreeing with RoleName", credentials.Target{RoleName: "x", RoleARN: "arn:aws:iam::111111111111:role/r"}, "RoleName"},
		{"external ID of one character", credentials.Target{AccountID: "111111111111", RoleName: "r", ExternalID: "x"}, "ExternalID"},
		{"external ID of 1225 characters", credentials.Target{AccountID: "111111111111", RoleName: "r", ExternalID: strings.Repeat("x", 1225)}, "ExternalID"},
		{"external ID with a space", credentials.Target{AccountID: "111111111111", RoleName: "r", ExternalID: secretExt + " x"}, "ExternalID"},
		{"external ID without a role", credentials.Target{ExternalID: secretExt}, "ExternalID"},
		{"session name of one character", credentials.Target{AccountID: "111111111111", RoleName: "r", SessionName: "s"}, "SessionName"},
		{"session name with a slash", credentials.Target{AccountID: "111111111111", RoleName: "r", SessionName: "a/b"}, "SessionName"},
		{"session name without a role", credentials.Target{SessionName: "ss"}, "SessionName"},
		{"duration under 15m", credentials.Target{AccountID: "111111111111", RoleName: "r", ExternalID: secretExt, Duration: 14 * time.Minute}, "Duration"},
		{"duration over 12h", credentials.Target{AccountID: "111111111111", RoleName: "r", Duration: 12*time.Hour + time.Second}, "Duration"},
		{"duration of fractional seconds", credentials.Target{AccountID: "111111111111", RoleName: "r", Duration: 20*time.Minute + time.Millisecond}, "Duration"},
		{"duration without a role", credentials.Target{Duration: time.Hour}, "Duration"},
		{"region that is not a name", credentials.Target{Region: "US East"}, "Region"},
	}
	src := newSource(t, &fakeSTS{})
	for _, tc := range tests {
		_, err := src.Config(context.Background(), tc.target)
		if err == nil {
			t.Errorf("%s: Config(%v) succeeded, want an error on %s", tc.reason, tc.target, tc.field)
			continue
		}
		if !errors.Is(err, credentials.ErrInvalidTarget) {
			t.Errorf("%s: error %v is not ErrInvalidTarget", tc.reason, err)
		}
		var ve *credentials.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: error %v, want a ValidationError on %s", tc.reason, err, tc.field)
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %q does not name the field %s", tc.reason, err, tc.field)
		}
		if strings.Contains(err.Error(), "SECRET-EXT") || (len(tc.target.ExternalID) >= 4 && strings.Contains(err.Error(), tc.target.ExternalID)) {
			t.Errorf("%s: error %q echoes the external ID", tc.reason, err)
		}
		if _, err := src.CallerIdentity(context.Background(), tc.target); !errors.Is(err, credentials.ErrInvalidTarget) {
			t.Errorf("%s: CallerIdentity error %v, want ErrInvalidTarget", tc.reason, err)
		}
	}

	// Valid edge values.
	for _, target := range []credentials.Target{
		{AccountID: "111111111111", RoleName: strings.Repeat("r", 64), ExternalID: strings.Repeat("x", 1224), SessionName: strings.Repeat("s", 64), Duration: 12 * time.Hour},
		{AccountID: "111111111111", RoleName: "r+=,.@_-", ExternalID: "ab", SessionName: "s1", Duration: 15 * time.Minute},
		{AccountID: "111111111111", RoleName: "r", ExternalID: "a:b/c=d,e.f@g-h_i+j"},
	} {
		if _, err := src.Config(context.Background(), target); err != nil {
			t.Errorf("Config(%v): %v, want success", target, err)
		}
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	good := credentials.Static("AKIA", baseSecret, "")
	tests := []struct {
		reason string
		opts   credentials.Options
		want   string // substring of the error
	}{
		{"no base credentials", credentials.Options{}, "Options.Base has no Credentials"},
		{"duration under 15m", credentials.Options{Base: good, Duration: time.Minute}, "Options.Duration"},
		{"duration over 12h", credentials.Options{Base: good, Duration: 13 * time.Hour}, "Options.Duration"},
		{"bad partition", credentials.Options{Base: good, Partition: "AWS CN"}, "Options.Partition"},
		{"bad session name", credentials.Options{Base: good, RoleSessionName: "x"}, "Options.RoleSessionName"},
		{"bad default region", credentials.Options{Base: good, DefaultRegion: "Mars 1"}, "Options.DefaultRegion"},
	}
	for _, tc := range tests {
		_, err := credentials.New(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error = %v, want one containing %q", tc.reason, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), baseSecret) {
			t.Errorf("%s: error %q contains the secret key", tc.reason, err)
		}
	}

	// No region anywhere: New succeeds (the SDK may not need one), Config
	// names the missing region.
	src, err := credentials.New(credentials.Options{Base: good})
	if err != nil {
		t.Fatal(err)
	}
	var ve *credentials.ValidationError
	if _, err := src.Config(context.Background(), credentials.Target{}); !errors.As(err, &ve) || ve.Field != "Region" {
		t.Errorf("Config without any region: %v, want a ValidationError on Region", err)
	}
}

func TestNewCopiesOptions(t *testing.T) {
	t.Parallel()
	base := credentials.Static("AKIABASE", baseSecret, "")
	base.Region = "us-east-1"
	opts := credentials.Options{Base: base, STS: &fakeSTS{}}
	src, err := credentials.New(opts, func(o *credentials.Options) { o.DefaultRegion = "eu-central-1" })
	if err != nil {
		t.Fatal(err)
	}
	if opts.DefaultRegion != "" {
		t.Errorf("New changed the caller's Options")
	}
	opts.Base.Region = "changed-1"
	cfg, _ := src.Config(context.Background(), credentials.Target{})
	if cfg.Region != "eu-central-1" {
		t.Errorf("Region = %q, want eu-central-1 from the option function", cfg.Region)
	}
}

func TestTargetRedaction(t *testing.T) {
	t.Parallel()
	const canary = "EXTERNAL-ID-CANARY-5c4b"
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker", ExternalID: canary, Region: "us-east-1", SessionName: "inst-1", Duration: time.Hour}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("provisioning", "target", target)
	logger.Info("provisioning", slog.Any("target", target))
	outputs := []string{
		fmt.Sprint(target), fmt.Sprintf("%v %+v %#v %s %q", target, target, target, target, target),
		fmt.Sprintf("%v", &target), buf.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, canary) {
			t.Errorf("output contains the external ID: %s", out)
		}
		for _, want := range []string{"111111111111", "broker", "us-east-1"} {
			if !strings.Contains(out, want) {
				t.Errorf("output %q lacks %q", out, want)
			}
		}
	}
	if got, want := target.String(), "Target{account=111111111111 role=broker region=us-east-1 session=inst-1 duration=1h0m0s external_id=[redacted]}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (credentials.Target{}).String(), "Target{broker identity}"; got != want {
		t.Errorf("zero String() = %q, want %q", got, want)
	}
}

func TestCallerIdentityAndCheck(t *testing.T) {
	t.Parallel()
	f := &fakeSTS{}
	var clients atomic.Int64
	var buf bytes.Buffer
	src := newSource(t, f, func(o *credentials.Options) {
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(&buf, canary.Writer(t)), nil))
		o.NewIdentityClient = func(cfg aws.Config) credentials.CallerIdentityAPI {
			clients.Add(1)
			return credentials.CallerIdentityFunc(func(ctx context.Context, _ *sts.GetCallerIdentityInput, _ ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
				// Answer as STS would: from the credentials the config signs with.
				creds, err := cfg.Credentials.Retrieve(ctx)
				if err != nil {
					return nil, err
				}
				if creds.AccessKeyID == "AKIABASE" {
					return &sts.GetCallerIdentityOutput{Account: aws.String("123456789012"), Arn: aws.String("arn:aws:iam::123456789012:user/broker"), UserId: aws.String("AIDABASE")}, nil
				}
				return &sts.GetCallerIdentityOutput{Account: aws.String("111111111111"), Arn: aws.String("arn:aws:sts::111111111111:assumed-role/broker/brokerkit"), UserId: aws.String("AROAFAKE:brokerkit")}, nil
			})
		}
	})
	ctx := context.Background()
	id, err := src.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(credentials.Identity{Account: "123456789012", ARN: "arn:aws:iam::123456789012:user/broker", UserID: "AIDABASE"}, id); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
	if !strings.Contains(buf.String(), "123456789012") || strings.Contains(buf.String(), baseSecret) {
		t.Errorf("Check log = %q, want the account and no secret", buf.String())
	}
	target := credentials.Target{AccountID: "111111111111", RoleName: "broker"}
	for range 3 {
		id, err = src.CallerIdentity(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
	}
	if id.Account != "111111111111" {
		t.Errorf("CallerIdentity(%v).Account = %q, want 111111111111", target, id.Account)
	}
	if n := clients.Load(); n != 2 {
		t.Errorf("%d identity clients built for two targets, want 2 (one per target)", n)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d AssumeRole calls, want 1", n)
	}
}

func TestCheckFailureIsLoggedWithoutSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	src := newSource(t, &fakeSTS{}, func(o *credentials.Options) {
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(&buf, canary.Writer(t)), nil))
		o.NewIdentityClient = func(aws.Config) credentials.CallerIdentityAPI {
			return credentials.CallerIdentityFunc(func(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
				return nil, errors.New("InvalidClientTokenId: The security token included in the request is invalid")
			})
		}
	})
	_, err := src.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") {
		t.Fatalf("Check error = %v, want the STS error", err)
	}
	if !strings.Contains(buf.String(), "InvalidClientTokenId") || strings.Contains(buf.String()+err.Error(), baseSecret) {
		t.Errorf("log %q / error %q: want the cause and no secret", buf.String(), err)
	}
}
