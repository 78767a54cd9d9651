package dynamodb

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

var (
	_ provisioner.Store  = (*Store)(nil)
	_ provisioner.Leaser = (*Store)(nil)
)

// Client is the part of the DynamoDB API the store calls;
// *dynamodb.Client (github.com/aws/aws-sdk-go-v2/service/dynamodb)
// implements it.
type Client interface {
	GetItem(context.Context, *ddb.GetItemInput, ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(context.Context, *ddb.PutItemInput, ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	DeleteItem(context.Context, *ddb.DeleteItemInput, ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error)
	Query(context.Context, *ddb.QueryInput, ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	BatchGetItem(context.Context, *ddb.BatchGetItemInput, ...func(*ddb.Options)) (*ddb.BatchGetItemOutput, error)
}

// Options configure a [Store].
type Options struct {
	// Client calls DynamoDB. Required.
	Client Client
	// Table is the table's name. Required. Its layout is in the package
	// documentation; [CreateTable] and the example broker's template make
	// one.
	Table string
	// Namespace separates stores on one table: a store sees only the
	// records and leases of its own namespace. At most 64 letters,
	// digits, '-', '_' or '.'; "" is a namespace too.
	Namespace string
	// TombstoneGrace is how long after a tombstone's ExpiresAt DynamoDB's
	// TTL may delete it, a backstop for the Tracker's own purge (default
	// 24h).
	TombstoneGrace time.Duration
	// LeaseGrace is how long after a lease ends DynamoDB's TTL may delete
	// it (default 1h).
	LeaseGrace time.Duration
}

// Store is a [provisioner.Store] and [provisioner.Leaser] in one DynamoDB
// table, shared by replicas. See the package documentation for the
// layout and the protocol. A Store is safe for concurrent use.
type Store struct {
	opts  Options
	rec   string // key prefix of records
	lease string
}

// Attribute and index names.
const (
	attrKey     = "pk"
	attrVersion = "v"
	attrRecord  = "rec"
	// attrWrite is a random token per Put: it tells a Put's own write,
	// seen again by the SDK's retry, from another writer's identical one.
	attrWrite    = "w"
	attrInFlight = "inflight"
	attrTomb     = "tomb"
	attrExpires  = "expires"
	attrTTL      = "ttl"
	attrOwner    = "owner"
	attrOp       = "op"
	attrUntil    = "until"

	indexInFlight   = "inflight"
	indexTombstones = "tombstones"
)

var namespaceRE = regexp.MustCompile(`^[-A-Za-z0-9_.]{0,64}$`)

// ErrInvalidOptions: New was given options it cannot work with.
var ErrInvalidOptions = errors.New("dynamodb store: invalid options")

// New returns a Store. It copies opts, then applies optFns. It makes no
// call: a missing table shows at the first.
func New(opts Options, optFns ...func(*Options)) (*Store, error) {
	for _, fn := range optFns {
		fn(&opts)
	}
	switch {
	case opts.Client == nil:
		return nil, fmt.Errorf("%w: no Client", ErrInvalidOptions)
	case opts.Table == "":
		return nil, fmt.Errorf("%w: no Table", ErrInvalidOptions)
	case !namespaceRE.MatchString(opts.Namespace):
		return nil, fmt.Errorf("%w: Namespace must be at most 64 letters, digits, '-', '_' or '.'", ErrInvalidOptions)
	}
	if opts.TombstoneGrace <= 0 {
		opts.TombstoneGrace = 24 * time.Hour
	}
	if opts.LeaseGrace <= 0 {
		opts.LeaseGrace = time.Hour
	}
	return &Store{opts: opts, rec: "rec:" + opts.Namespace + ":", lease: "lease:" + opts.Namespace + ":"}, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}
func unum(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

func (s *Store) key(prefix, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrKey: str(prefix + id)}
}

// wrap names the call and instance of a DynamoDB error; a cancelled
// context comes back as itself.
func (s *Store) wrap(ctx context.Context, call, id string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctx.Err()
	}
	if id == "" {
		return fmt.Errorf("dynamodb store: %s on table %s: %w", call, s.opts.Table, err)
	}
	return fmt.Errorf("dynamodb store: %s %q on table %s: %w", call, id, s.opts.Table, err)
}

func conditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Get returns the record of instanceID with a strongly consistent read,
// or [provisioner.ErrNotFound].
func (s *Store) Get(ctx context.Context, instanceID string) (*provisioner.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out, err := s.opts.Client.GetItem(ctx, &ddb.GetItemInput{
		TableName: aws.String(s.opts.Table), Key: s.key(s.rec, instanceID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, s.wrap(ctx, "GetItem", instanceID, err)
	}
	if len(out.Item) == 0 {
		return nil, provisioner.ErrNotFound
	}
	return s.decode(instanceID, out.Item)
}

func (s *Store) decode(id string, item map[string]types.AttributeValue) (*provisioner.Record, error) {
	raw, ok1 := item[attrRecord].(*types.AttributeValueMemberS)
	v, ok2 := item[attrVersion].(*types.AttributeValueMemberN)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: item of %q on table %s lacks %s or %s", store.ErrCorrupt, id, s.opts.Table, attrRecord, attrVersion)
	}
	version, err := strconv.ParseUint(v.Value, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: version of %q on table %s", store.ErrCorrupt, id, s.opts.Table)
	}
	rec := new(provisioner.Record)
	dec := json.NewDecoder(bytes.NewReader([]byte(raw.Value)))
	dec.UseNumber()
	if err := dec.Decode(rec); err != nil {
		// The decoder's message may quote the record: name the instance only.
		return nil, fmt.Errorf("%w: record %q on table %s does not decode", store.ErrCorrupt, id, s.opts.Table)
	}
	if rec.Operation == nil {
		return nil, fmt.Errorf("%w: record %q on table %s has no operation", store.ErrCorrupt, id, s.opts.Table)
	}
	rec.Version = version
	return rec, nil
}

// Put writes rec with a conditional PutItem: attribute_not_exists for
// version 0, else the stored version must equal rec.Version.
func (s *Store) Put(ctx context.Context, rec *provisioner.Record) error {
	if err := validate(rec); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *rec
	c.Version = rec.Version + 1
	data, err := json.Marshal(&c)
	if err != nil {
		return fmt.Errorf("%w: record %q does not encode as JSON", store.ErrInvalidRecord, rec.InstanceID)
	}
	item := s.key(s.rec, rec.InstanceID)
	item[attrVersion] = unum(c.Version)
	item[attrRecord] = str(string(data))
	token := writeToken()
	item[attrWrite] = str(token)
	if rec.InFlight() {
		item[attrInFlight] = str(s.opts.Namespace + "#")
	}
	if rec.Deleted {
		item[attrTomb] = str(s.opts.Namespace + "#")
		item[attrExpires] = num(rec.ExpiresAt.Unix())
		if !rec.ExpiresAt.IsZero() {
			item[attrTTL] = num(rec.ExpiresAt.Add(s.opts.TombstoneGrace).Unix())
		}
	}
	in := &ddb.PutItemInput{TableName: aws.String(s.opts.Table), Item: item}
	if rec.Version == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#k)")
		in.ExpressionAttributeNames = map[string]string{"#k": attrKey}
	} else {
		in.ConditionExpression = aws.String("#v = :v")
		in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": unum(rec.Version)}
	}
	if _, err := s.opts.Client.PutItem(ctx, in); err != nil {
		if !conditionFailed(err) {
			return s.wrap(ctx, "PutItem", rec.InstanceID, err)
		}
		// The SDK retries a PutItem whose answer was lost (a 5xx, a
		// broken connection); if the first attempt was written, the
		// retry's condition fails on our own write. A consistent read
		// tells that apart from another writer's: the item then holds
		// this Put's token.
		if landed, lerr := s.landed(ctx, rec.InstanceID, token); lerr != nil || !landed {
			return provisioner.ErrVersionConflict
		}
	}
	rec.Version = c.Version
	return nil
}

// landed reports whether the stored item of instanceID was written by
// the Put with token: a write of ours whose answer the SDK missed.
func (s *Store) landed(ctx context.Context, instanceID, token string) (bool, error) {
	out, err := s.opts.Client.GetItem(ctx, &ddb.GetItemInput{
		TableName: aws.String(s.opts.Table), Key: s.key(s.rec, instanceID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, err
	}
	w, ok := out.Item[attrWrite].(*types.AttributeValueMemberS)
	return ok && w.Value == token, nil
}

// writeToken returns a random token for one Put.
func writeToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Delete removes the record with a DeleteItem conditional on its
// version; when the condition fails, a consistent read tells
// [provisioner.ErrNotFound] from [provisioner.ErrVersionConflict].
func (s *Store) Delete(ctx context.Context, instanceID string, version uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.opts.Client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName: aws.String(s.opts.Table), Key: s.key(s.rec, instanceID),
		ConditionExpression:       aws.String("#v = :v"),
		ExpressionAttributeNames:  map[string]string{"#v": attrVersion},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": unum(version)},
	})
	if err == nil {
		return nil
	}
	if !conditionFailed(err) {
		return s.wrap(ctx, "DeleteItem", instanceID, err)
	}
	if _, err := s.Get(ctx, instanceID); err != nil {
		return err // ErrNotFound, or the read's own error
	}
	return provisioner.ErrVersionConflict
}

// InFlight queries the sparse in-flight index for the namespace's keys,
// then reads those records with strongly consistent reads and keeps those
// still in flight: the index is eventually consistent, the answer is not
// older than the call.
func (s *Store) InFlight(ctx context.Context) ([]*provisioner.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ids, err := s.query(ctx, &ddb.QueryInput{
		IndexName:                 aws.String(indexInFlight),
		KeyConditionExpression:    aws.String("#i = :ns"),
		ExpressionAttributeNames:  map[string]string{"#i": attrInFlight},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ns": str(s.opts.Namespace + "#")},
	})
	if err != nil {
		return nil, err
	}
	recs, err := s.batchGet(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range recs {
		if r.InFlight() {
			out = append(out, r)
		}
	}
	return out, nil
}

// Expired queries the sparse tombstone index up to t's second, then reads
// those records consistently and keeps the tombstones whose ExpiresAt is
// before t.
func (s *Store) Expired(ctx context.Context, t time.Time) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ids, err := s.query(ctx, &ddb.QueryInput{
		IndexName:                 aws.String(indexTombstones),
		KeyConditionExpression:    aws.String("#t = :ns AND #e <= :t"),
		ExpressionAttributeNames:  map[string]string{"#t": attrTomb, "#e": attrExpires},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ns": str(s.opts.Namespace + "#"), ":t": num(t.Unix())},
	})
	if err != nil {
		return nil, err
	}
	recs, err := s.batchGet(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range recs {
		if r.Deleted && r.ExpiresAt.Before(t) {
			out = append(out, r.InstanceID)
		}
	}
	return out, nil
}

// query pages through an index query and returns the instance IDs of
// the keys found.
func (s *Store) query(ctx context.Context, in *ddb.QueryInput) ([]string, error) {
	in.TableName = aws.String(s.opts.Table)
	var ids []string
	for {
		out, err := s.opts.Client.Query(ctx, in)
		if err != nil {
			return nil, s.wrap(ctx, "Query "+aws.ToString(in.IndexName), "", err)
		}
		for _, item := range out.Items {
			if k, ok := item[attrKey].(*types.AttributeValueMemberS); ok && len(k.Value) > len(s.rec) && k.Value[:len(s.rec)] == s.rec {
				ids = append(ids, k.Value[len(s.rec):])
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// batchGet reads the records of ids with strongly consistent reads, 100
// per call, retrying unprocessed keys; records gone meanwhile are left
// out.
func (s *Store) batchGet(ctx context.Context, ids []string) ([]*provisioner.Record, error) {
	var recs []*provisioner.Record
	for len(ids) > 0 {
		n := min(len(ids), 100)
		keys := make([]map[string]types.AttributeValue, n)
		for i, id := range ids[:n] {
			keys[i] = s.key(s.rec, id)
		}
		ids = ids[n:]
		req := map[string]types.KeysAndAttributes{s.opts.Table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for backoff := 10 * time.Millisecond; len(req) > 0; backoff = min(2*backoff, time.Second) {
			out, err := s.opts.Client.BatchGetItem(ctx, &ddb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, s.wrap(ctx, "BatchGetItem", "", err)
			}
			for _, item := range out.Responses[s.opts.Table] {
				k, _ := item[attrKey].(*types.AttributeValueMemberS)
				if k == nil || len(k.Value) < len(s.rec) {
					continue
				}
				r, err := s.decode(k.Value[len(s.rec):], item)
				if err != nil {
					return nil, err
				}
				recs = append(recs, r)
			}
			req = out.UnprocessedKeys
			if len(req) > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(backoff):
				}
			}
		}
	}
	return recs, nil
}

func validate(rec *provisioner.Record) error {
	switch {
	case rec == nil:
		return fmt.Errorf("%w: nil record", store.ErrInvalidRecord)
	case rec.InstanceID == "":
		return fmt.Errorf("%w: empty instance ID", store.ErrInvalidRecord)
	case rec.Operation == nil:
		return fmt.Errorf("%w: record %q has no operation", store.ErrInvalidRecord, rec.InstanceID)
	}
	return nil
}
