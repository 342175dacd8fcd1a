package broker

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/internal/config"
)

// TestACLsRoundTrip creates, describes and deletes bindings through kadm
// (CreateAcls, DescribeAcls, DeleteAcls), checks that they survive a
// restart through the metadata log, and that callers without ALTER or
// DESCRIBE on the cluster are refused.
func TestACLsRoundTrip(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	tb := startACLBroker(t, dir, aclSettings(nil))
	adm := tb.aclAdmin("admin")

	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("orders").Allow("User:alice").Operations(kadm.OpRead, kadm.OpWrite))
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Topics("pat-").ResourcePatternType(kadm.ACLPatternPrefixed).Deny("User:bob").Operations(kadm.OpAll))
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Groups("g1").Allow("User:alice").Operations(kadm.OpRead))
	// Creating an existing binding again is not an error and adds nothing.
	mustCreateACLs(t, ctx, adm, kadm.NewACLs().Groups("g1").Allow("User:alice").Operations(kadm.OpRead))

	count := func(adm *kadm.Client) int {
		t.Helper()
		res, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Allow().AllowHosts().Deny().DenyHosts().Operations())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("describe: %v", r.Err)
			}
			n += len(r.Described)
		}
		return n
	}
	if n := count(adm); n != 4 {
		t.Fatalf("described %d bindings, want 4", n)
	}

	// MATCH finds the bindings that apply to a topic name.
	res, err := adm.DescribeACLs(ctx, kadm.NewACLs().Topics("pat-x").ResourcePatternType(kadm.ACLPatternMatch).Allow().AllowHosts().Deny().DenyHosts().Operations())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Described) != 1 || res[0].Described[0].Name != "pat-" {
		t.Fatalf("MATCH pat-x: %+v", res)
	}

	// Not a super user and no ALTER on the cluster.
	cres, err := tb.aclAdmin("alice").CreateACLs(ctx, kadm.NewACLs().Topics("x").Allow("User:alice").Operations(kadm.OpRead))
	if err != nil {
		t.Fatal(err)
	}
	if len(cres) != 1 || !errors.Is(cres[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("create without ALTER on cluster: %+v", cres)
	}
	dres, err := tb.aclAdmin("alice").DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).Allow().AllowHosts().Deny().DenyHosts().Operations())
	if err != nil {
		t.Fatal(err)
	}
	if len(dres) == 0 || !errors.Is(dres[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("describe without DESCRIBE on cluster: %+v", dres)
	}

	tb = tb.restartACL()
	adm = tb.aclAdmin("admin")
	if n := count(adm); n != 4 {
		t.Fatalf("after restart: described %d bindings, want 4", n)
	}
	del, err := adm.DeleteACLs(ctx, kadm.NewACLs().Topics("orders").Allow("User:alice").AllowHosts().Operations(kadm.OpRead, kadm.OpWrite))
	if err != nil {
		t.Fatal(err)
	}
	deleted := 0
	for _, r := range del {
		if r.Err != nil {
			t.Fatalf("delete: %v", r.Err)
		}
		deleted += len(r.Deleted)
	}
	if deleted != 2 {
		t.Fatalf("deleted %d bindings, want 2", deleted)
	}
	tb = tb.restartACL()
	if n := count(tb.aclAdmin("admin")); n != 2 {
		t.Fatalf("after delete and restart: described %d bindings, want 2", n)
	}
}

// restartACL restarts a broker started by startACLBroker.
func (tb *testBroker) restartACL() *testBroker {
	tb.t.Helper()
	if err := tb.Close(); err != nil {
		tb.t.Fatal(err)
	}
	return startACLBroker(tb.t, tb.dir, tb.setting)
}

// TestACLRequestErrors checks Kafka's errors for bad bindings and filters
// and for a broker without an authorizer.
func TestACLRequestErrors(t *testing.T) {
	// rawRequest's client id is "roundtrip": make it a super user.
	tb := startACLBroker(t, t.TempDir(), aclSettings(map[string]string{config.SuperUsers: "User:admin;User:roundtrip"}))
	c := tb.dial()

	create := kmsg.NewPtrCreateACLsRequest()
	bad := []kmsg.CreateACLsRequestCreation{
		{ResourceType: kmsg.ACLResourceTypeAny, ResourceName: "t", ResourcePatternType: 3, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", ResourcePatternType: kmsg.ACLResourcePatternTypeMatch, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", ResourcePatternType: 3, Principal: "alice", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: "c", ResourcePatternType: 3, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationAlter, PermissionType: kmsg.ACLPermissionTypeAllow},
		{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", ResourcePatternType: 3, Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAllow},
	}
	create.Creations = bad
	create.SetVersion(3)
	cr := rawRequest(t, c, 1, create).(*kmsg.CreateACLsResponse)
	for i, r := range cr.Results {
		if r.ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("creation %d: error %d, want INVALID_REQUEST", i, r.ErrorCode)
		}
	}
	desc := kmsg.NewPtrDescribeACLsRequest()
	desc.ResourceType = kmsg.ACLResourceTypeUnknown
	desc.SetVersion(3)
	if dr := rawRequest(t, c, 2, desc).(*kmsg.DescribeACLsResponse); dr.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("describe with unknown resource type: error %d, want INVALID_REQUEST", dr.ErrorCode)
	}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.SetVersion(3)
	del.Filters = []kmsg.DeleteACLsRequestFilter{{ResourceType: kmsg.ACLResourceTypeAny, ResourcePatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationUnknown, PermissionType: kmsg.ACLPermissionTypeAny}}
	if dr := rawRequest(t, c, 3, del).(*kmsg.DeleteACLsResponse); dr.Results[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("delete with unknown operation: error %d, want INVALID_REQUEST", dr.Results[0].ErrorCode)
	}

	off := startBroker(t, nil)
	oc := off.dial()
	desc.ResourceType = kmsg.ACLResourceTypeAny
	desc.ResourcePatternType = kmsg.ACLResourcePatternTypeAny
	desc.Operation, desc.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if dr := rawRequest(t, oc, 1, desc).(*kmsg.DescribeACLsResponse); dr.ErrorCode != kerr.SecurityDisabled.Code {
		t.Errorf("describe without authorizer: error %d, want SECURITY_DISABLED", dr.ErrorCode)
	}
	create.Creations = bad[:1]
	if cr := rawRequest(t, oc, 2, create).(*kmsg.CreateACLsResponse); cr.Results[0].ErrorCode != kerr.SecurityDisabled.Code {
		t.Errorf("create without authorizer: error %d, want SECURITY_DISABLED", cr.Results[0].ErrorCode)
	}
}
