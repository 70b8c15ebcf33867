// Command healthcheck runs deploy/argocd/health.lua the way Argo CD does
// (gopher-lua; package, base and table libraries only; `obj` decoded from
// JSON; the script's returned table read as the health status) against
// objects in every state the operator reports, and fails on any mismatch.
//
//	go run . ../health.lua
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

type testCase struct {
	name   string
	object string // JSON
	status string
}

func ready(status, reason string, observed int) string {
	return fmt.Sprintf(`{"apiVersion": "qualys-operator.io/v1alpha1", "kind": "AwsConnector",
		"metadata": {"name": "aws-prod", "namespace": "team-a", "generation": 2},
		"status": {"observedGeneration": %d, "conditions": [
			{"type": "Synced", "status": "True", "reason": "Available", "message": ""},
			{"type": "Ready", "status": %q, "reason": %q, "message": "details", "observedGeneration": %d}]}}`,
		observed, status, reason, observed)
}

var cases = []testCase{
	{"no status yet", `{"kind": "AwsConnector", "metadata": {"name": "a", "generation": 1}}`, "Progressing"},
	{"status without conditions", `{"kind": "GcpConnector", "metadata": {"name": "a", "generation": 1}, "status": {}}`, "Progressing"},
	{"ready", ready("True", "Available", 2), "Healthy"},
	{"ready for an older generation", ready("True", "Available", 1), "Progressing"},
	{"creating", ready("False", "Creating", 2), "Progressing"},
	{"unknown", ready("Unknown", "Creating", 2), "Progressing"},
	{"throttled", ready("False", "Throttled", 2), "Progressing"},
	{"waiting for the account", ready("False", "ReferenceNotReady", 2), "Progressing"},
	{"paused", ready("False", "Paused", 2), "Suspended"},
	{"paused while matching", ready("True", "Paused", 2), "Suspended"},
	{"bad credentials", ready("False", "CredentialsInvalid", 2), "Degraded"},
	{"invalid spec", ready("False", "InvalidSpec", 2), "Degraded"},
	{"conflict", ready("False", "Conflict", 2), "Degraded"},
	{"interrupted create, being checked", ready("False", "CreateIncomplete", 2), "Progressing"},
	{"qualys error, retried", ready("False", "QualysError", 2), "Progressing"},
	{"observe-only, differs", ready("False", "DriftDetected", 2), "Degraded"},
	{"observe-only, absent", ready("False", "NotFound", 2), "Degraded"},
	{"unknown reason", ready("False", "SomethingNew", 2), "Progressing"},
	{"deleting", `{"kind": "ConnectorGroup", "metadata": {"name": "g", "generation": 3, "deletionTimestamp": "2026-01-01T00:00:00Z"},
		"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": ""}]}}`, "Progressing"},
	{"observedGeneration only at the top", `{"kind": "QualysAccount", "metadata": {"name": "q", "generation": 5},
		"status": {"observedGeneration": 4, "conditions": [{"type": "Ready", "status": "True", "reason": "Available", "message": ""}]}}`, "Progressing"},
}

type health struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

// decode is Argo CD's decodeValue (util/lua/lua.go).
func decode(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(decode(L, item))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetH(lua.LString(k), decode(L, item))
		}
		return t
	}
	return lua.LNil
}

func run(script string, object map[string]any) (health, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, err
		}
	}
	L.SetGlobal("obj", decode(L, object))
	if err := L.DoString(script); err != nil {
		return health{}, err
	}
	table, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	h := health{}
	if s, ok := table.RawGetString("status").(lua.LString); ok {
		h.Status = string(s)
	}
	if s, ok := table.RawGetString("message").(lua.LString); ok {
		h.Message = string(s)
	}
	switch h.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
		return h, nil
	}
	return h, fmt.Errorf("invalid health status %q", h.Status)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: healthcheck HEALTH.LUA")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	failed := 0
	for _, c := range cases {
		var object map[string]any
		if err := json.Unmarshal([]byte(c.object), &object); err != nil {
			panic(fmt.Sprintf("%s: %v", c.name, err))
		}
		h, err := run(string(script), object)
		switch {
		case err != nil:
			failed++
			fmt.Printf("FAIL %s: %v\n", c.name, err)
		case h.Status != c.status:
			failed++
			fmt.Printf("FAIL %s: %s (%s), want %s\n", c.name, h.Status, h.Message, c.status)
		default:
			fmt.Printf("ok   %s: %s (%s)\n", c.name, h.Status, h.Message)
		}
	}
	fmt.Printf("health.lua: %d of %d cases as expected\n", len(cases)-failed, len(cases))
	if failed > 0 {
		os.Exit(1)
	}
}
