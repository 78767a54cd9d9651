package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/brokerkit/brokerkit/broker"
	"github.com/brokerkit/brokerkit/provisioner"
	"github.com/brokerkit/brokerkit/provisioner/store"
)

func TestRobustLongInstanceIDBolt(t *testing.T) {
	idx, templates, _, err := loadTemplates(Config{BrokerID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "s.db"), store.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tracker, err := provisioner.New(provisioner.Options{Store: st, Provisioner: doneProvisioner{}, Catalog: idx})
	if err != nil {
		t.Fatal(err)
	}
	bindings, err := provisioner.New(provisioner.Options{Store: store.NewMemory(), Provisioner: doneProvisioner{}, Catalog: idx})
	if err != nil {
		t.Fatal(err)
	}
	hd, err := broker.New(idx, newBackend(tracker, bindings, nil, templates.declared), broker.Options{Unauthenticated: true,
		RequireAsync: broker.ActionProvision | broker.ActionUpdate | broker.ActionDeprovision | broker.ActionBind | broker.ActionUnbind})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hd)
	defer srv.Close()
	sid, pid := planIDs(t, idx.Catalog(), "sqs", "standard")
	code, body := rawDo(t, "PUT", srv.URL+"/v2/service_instances/"+strings.Repeat("i", 40000)+"?accepts_incomplete=true",
		`{"service_id":"`+sid+`","plan_id":"`+pid+`","organization_guid":"o","space_guid":"s"}`)
	if code >= 500 {
		t.Errorf("provision with a 40000-byte instance ID: %d %s", code, body)
	}
	_ = http.StatusOK
}
