package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestDemo runs the walkthrough the README's first command runs.
func TestDemo(t *testing.T) {
	var out, logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := run("", true, log, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"catalog: class dh-sqs, plan standard",
		"provision opensource-blog-sqs-demo: 202 Accepted",
		"last_operation: succeeded",
		"binding credentials (the Secret's keys): [password username]",
		"deprovision again: 410 Gone",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(logs.String(), "VisibilityTimeout=60") || strings.Contains(logs.String(), `"VisibilityTimeout":60`) {
		t.Errorf("a parameter value reached the log:\n%s", logs.String())
	}
}
