package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/provisioner"
)

// The credential keys a binding adds to the instance's outputs.
const (
	credAccessKeyID     = "AWS_ACCESS_KEY_ID"
	credSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	credRegion          = "AWS_REGION"
)

// backend is the broker's backend: instances are CloudFormation stacks
// run by the Tracker (the embedded *broker.Tracked), and each binding is
// an IAM user with an inline policy on the instance's resources and one
// access key. Bindings are synchronous.
//
// A repeated identical bind is answered 200 with the same credentials:
// they are kept sealed (AES-256-GCM) with the binding key, never in
// plain text. A bind or unbind of a binding that is already being bound
// or unbound is answered 422 ConcurrencyError.
type backend struct {
	*broker.Tracked
	users     *iamUsers
	bindings  *bindingStore
	sealer    provisioner.Sealer
	digestKey []byte
	region    string
	log       *slog.Logger
	now       func() time.Time

	mu   sync.Mutex
	busy map[string]bool // binding IDs with a bind or unbind in progress
}

var (
	_ broker.ServiceBroker  = (*backend)(nil)
	_ broker.InstanceGetter = (*backend)(nil)
	_ broker.Binder         = (*backend)(nil)
	_ broker.BindingGetter  = (*backend)(nil)
)

// backendOptions configure newBackend.
type backendOptions struct {
	Tracker  *provisioner.Tracker
	IAM      IAMAPI
	Bindings *bindingStore
	// Key seals credentials and keys the request digests.
	Key         []byte
	Region      string
	StackPrefix string
	BrokerID    string
	Logger      *slog.Logger
}

func newBackend(o backendOptions) (*backend, error) {
	sealer, err := provisioner.NewAESSealer(o.Key)
	if err != nil {
		return nil, err
	}
	// The digest key is derived, so the AES key itself is used for one
	// purpose only.
	m := hmac.New(sha256.New, o.Key)
	m.Write([]byte("brokerkit awsbroker binding digest"))
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &backend{
		Tracked:   &broker.Tracked{Tracker: o.Tracker},
		users:     &iamUsers{api: o.IAM, prefix: o.StackPrefix, brokerID: o.BrokerID},
		bindings:  o.Bindings,
		sealer:    sealer,
		digestKey: m.Sum(nil),
		region:    o.Region,
		log:       log,
		now:       time.Now,
		busy:      map[string]bool{},
	}, nil
}

// acquire marks bindingID busy, or reports false if it already is.
func (b *backend) acquire(bindingID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.busy[bindingID] {
		return false
	}
	b.busy[bindingID] = true
	return true
}

func (b *backend) release(bindingID string) {
	b.mu.Lock()
	delete(b.busy, bindingID)
	b.mu.Unlock()
}

// Bind creates the binding's IAM user, policy and access key, and
// answers the instance's stack outputs (keys as they are) with
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION added.
func (b *backend) Bind(ctx context.Context, req *broker.BindRequest) (broker.BindResponse, error) {
	if !b.acquire(req.BindingID) {
		return broker.BindResponse{}, broker.ErrConcurrency
	}
	defer b.release(req.BindingID)

	digest, err := b.digest(req)
	if err != nil {
		return broker.BindResponse{}, err
	}
	rec, err := b.bindings.get(req.BindingID)
	if err != nil {
		return broker.BindResponse{}, err
	}
	if rec != nil {
		if rec.InstanceID != req.InstanceID || !hmac.Equal([]byte(rec.Digest), []byte(digest)) {
			return broker.BindResponse{}, broker.ErrBindingConflict
		}
		if rec.State == bindingReady {
			creds, err := b.open(rec)
			if err != nil {
				return broker.BindResponse{}, err
			}
			return broker.BindResponse{Outcome: broker.Existed, Binding: broker.Binding{Credentials: creds}}, nil
		}
		// A bind that did not finish: finish it.
	}

	inst, err := b.instance(ctx, req.InstanceID)
	if err != nil {
		return broker.BindResponse{}, err
	}
	if inst.ServiceID != req.Service.ID || inst.PlanID != req.Plan.ID {
		return broker.BindResponse{}, broker.NewError(http.StatusBadRequest, "",
			"service_id and plan_id must be those of the service instance")
	}

	if rec == nil {
		rec = &bindingRecord{BindingID: req.BindingID, InstanceID: req.InstanceID, ServiceID: req.Service.ID,
			PlanID: req.Plan.ID, State: bindingCreating, Digest: digest, CreatedAt: b.now().UTC()}
	}
	doc, needsUser := bindingPolicy(inst.Outputs)
	if needsUser {
		rec.UserName = userName(b.users.prefix, req.BindingID)
	}
	// The record comes first, so that an unbind after a crash or an
	// error below knows which user to remove.
	if err := b.bindings.put(rec); err != nil {
		return broker.BindResponse{}, err
	}
	// The record is now visible to a Deprovision's ofInstance; re-check
	// that no deprovision was accepted since the first check.
	if _, err := b.instance(ctx, req.InstanceID); err != nil {
		return broker.BindResponse{}, err
	}

	creds := broker.Credentials{}
	for k, v := range inst.Outputs {
		creds[k] = v
	}
	if needsUser {
		key, err := b.users.create(ctx, rec, doc)
		if err != nil {
			return broker.BindResponse{}, err
		}
		creds[credAccessKeyID] = key.ID
		creds[credSecretAccessKey] = key.Secret
		rec.AccessKeyID = key.ID
	}
	creds[credRegion] = b.region

	raw, err := json.Marshal(creds)
	if err != nil {
		return broker.BindResponse{}, err
	}
	if rec.Sealed, err = b.sealer.Seal(raw); err != nil {
		return broker.BindResponse{}, fmt.Errorf("sealing the credentials of binding %q: %w", req.BindingID, err)
	}
	rec.State = bindingReady
	if err := b.bindings.put(rec); err != nil {
		return broker.BindResponse{}, err
	}
	b.log.Info("binding created", "instance_id", req.InstanceID, "binding_id", req.BindingID,
		"iam_user", rec.UserName, "access_key_id", rec.AccessKeyID)
	return broker.BindResponse{Outcome: broker.Done, Binding: broker.Binding{Credentials: creds}}, nil
}

// instance returns the record of a provisioned instance, or the OSB
// error for one that is not: 404 if unknown, 422 ConcurrencyError while
// it is being provisioned, updated or deleted.
func (b *backend) instance(ctx context.Context, instanceID string) (*provisioner.Record, error) {
	rec, err := b.Tracker.Instance(ctx, instanceID)
	switch {
	case errors.Is(err, provisioner.ErrBusy), errors.Is(err, provisioner.ErrProvisioning):
		return nil, broker.ErrConcurrency
	case errors.Is(err, provisioner.ErrNotFound):
		return nil, broker.ErrInstanceNotFound
	case err != nil:
		return nil, err
	}
	return rec, nil
}

// Unbind deletes the binding's access keys, policy and IAM user, then its
// record. Missing pieces are fine, so an unbind after a failed bind
// (orphan mitigation) cleans up what there is; an unknown binding is
// ErrBindingNotFound (410).
func (b *backend) Unbind(ctx context.Context, req *broker.UnbindRequest) (broker.UnbindResponse, error) {
	if !b.acquire(req.BindingID) {
		return broker.UnbindResponse{}, broker.ErrConcurrency
	}
	defer b.release(req.BindingID)
	rec, err := b.bindings.get(req.BindingID)
	if err != nil {
		return broker.UnbindResponse{}, err
	}
	if rec == nil || rec.InstanceID != req.InstanceID {
		return broker.UnbindResponse{}, broker.ErrBindingNotFound
	}
	if err := b.revoke(ctx, rec); err != nil {
		return broker.UnbindResponse{}, err
	}
	return broker.UnbindResponse{Outcome: broker.Done}, nil
}

// revoke removes rec's IAM user and then rec. The caller holds rec's
// binding ID.
func (b *backend) revoke(ctx context.Context, rec *bindingRecord) error {
	if rec.UserName != "" {
		err := b.users.remove(ctx, rec)
		if errors.Is(err, errNotOwned) {
			// Someone else's user: forget the binding, leave the user.
			b.log.Warn("binding's IAM user carries another binding's tag; left in place",
				"binding_id", rec.BindingID, "iam_user", rec.UserName)
		} else if err != nil {
			return err
		}
	}
	if err := b.bindings.delete(rec.BindingID); err != nil {
		return err
	}
	b.log.Info("binding deleted", "instance_id", rec.InstanceID, "binding_id", rec.BindingID, "iam_user", rec.UserName)
	return nil
}

// Deprovision starts the instance's deprovision and, once it is
// accepted, revokes the bindings the platform left behind: their
// policies name the instance's resources, and a new instance with the
// same ID would get resources with the same ARNs.
func (b *backend) Deprovision(ctx context.Context, req *broker.DeprovisionRequest) (broker.DeprovisionResponse, error) {
	resp, err := b.Tracked.Deprovision(ctx, req)
	if err != nil {
		return resp, err
	}
	ids, err := b.bindings.ofInstance(req.InstanceID)
	if err != nil {
		b.log.Error("listing the bindings of a deprovisioned instance", "instance_id", req.InstanceID, "error", err)
		return resp, nil
	}
	for _, id := range ids {
		for !b.acquire(id) {
			select {
			case <-ctx.Done():
				return resp, nil
			case <-time.After(50 * time.Millisecond):
			}
		}
		rec, err := b.bindings.get(id)
		if err == nil && rec != nil {
			err = b.revoke(ctx, rec)
		}
		b.release(id)
		if err != nil {
			b.log.Error("revoking a binding of a deprovisioned instance; unbind it", "instance_id", req.InstanceID, "binding_id", id, "error", err)
		}
	}
	return resp, nil
}

// GetBinding returns a binding's credentials (404 while it is being
// created).
func (b *backend) GetBinding(ctx context.Context, req *broker.GetBindingRequest) (broker.Binding, error) {
	rec, err := b.bindings.get(req.BindingID)
	if err != nil {
		return broker.Binding{}, err
	}
	if rec == nil || rec.InstanceID != req.InstanceID || rec.State != bindingReady {
		return broker.Binding{}, broker.ErrBindingNotFound
	}
	creds, err := b.open(rec)
	if err != nil {
		return broker.Binding{}, err
	}
	return broker.Binding{Credentials: creds}, nil
}

// BindingLastOperation answers for bindings, which are synchronous: a
// binding that exists has succeeded.
func (b *backend) BindingLastOperation(ctx context.Context, req *broker.BindingLastOperationRequest) (broker.LastOperation, error) {
	rec, err := b.bindings.get(req.BindingID)
	if err != nil {
		return broker.LastOperation{}, err
	}
	if rec == nil || rec.InstanceID != req.InstanceID || rec.State != bindingReady {
		return broker.LastOperation{}, broker.ErrBindingNotFound
	}
	return broker.LastOperation{State: broker.Succeeded}, nil
}

// open unseals rec's credentials.
func (b *backend) open(rec *bindingRecord) (broker.Credentials, error) {
	raw, err := b.sealer.Open(rec.Sealed)
	if err != nil {
		return nil, fmt.Errorf("opening the credentials of binding %q (was the binding key replaced?): %w", rec.BindingID, err)
	}
	var creds broker.Credentials
	if err := json.Unmarshal(raw, &creds); err != nil {
		return nil, fmt.Errorf("decoding the credentials of binding %q: %w", rec.BindingID, err)
	}
	return creds, nil
}

// digest is the keyed HMAC of what makes two bind requests identical:
// instance, service, plan, app_guid, bind_resource and parameters. It is
// keyed because parameters may hold secrets.
func (b *backend) digest(req *broker.BindRequest) (string, error) {
	raw, err := json.Marshal(struct {
		InstanceID   string              `json:"instance_id"`
		ServiceID    string              `json:"service_id"`
		PlanID       string              `json:"plan_id"`
		AppGUID      string              `json:"app_guid,omitempty"`
		BindResource broker.BindResource `json:"bind_resource,omitempty"`
		Parameters   map[string]any      `json:"parameters,omitempty"`
	}{req.InstanceID, req.Service.ID, req.Plan.ID, req.AppGUID, req.BindResource, req.Parameters})
	if err != nil {
		return "", fmt.Errorf("encoding bind request: %w", err)
	}
	m := hmac.New(sha256.New, b.digestKey)
	m.Write(raw)
	return "hmac-sha256:" + base64.RawStdEncoding.EncodeToString(m.Sum(nil)), nil
}
