package broker

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestQuotaRateWindows checks the sampled rate against hand-computed
// values: samples of one window each, a window measured from the oldest
// sample and at least one sample long, samples recycled once the ring of
// quota.window.num + 1 is full and dropped after quota.window.num windows
// without an event.
func TestQuotaRateWindows(t *testing.T) {
	const samples, win = 3, 1000
	var r quotaRate
	r.record(100, 0, samples, win)
	// 100 over the minimum window of one second.
	if got := r.measure(100, samples, win); got != 100 {
		t.Fatalf("rate at 100 ms = %v, want 100", got)
	}
	r.record(100, 999, samples, win)  // same sample, last event at 999
	r.record(200, 1000, samples, win) // the first sample is complete
	r.record(300, 2000, samples, win)
	if got, want := r.measure(2500, samples, win), 700/2.5; got != want {
		t.Fatalf("rate at 2.5 s = %v, want %v", got, want)
	}
	// 3 windows after its last event, the first sample is dropped and the
	// window starts at the second.
	if got, want := r.measure(3998, samples, win), 700/3.998; math.Abs(got-want) > 1e-9 {
		t.Fatalf("rate at 3.998 s = %v, want %v", got, want)
	}
	if got, want := r.measure(3999, samples, win), 500/2.999; math.Abs(got-want) > 1e-9 {
		t.Fatalf("rate at 3.999 s = %v, want %v", got, want)
	}
	r.record(0, 3999, samples, win)
	r.record(0, 5000, samples, win) // the ring of samples+1 wraps
	if len(r.samples) != samples+1 {
		t.Fatalf("%d samples kept, want %d", len(r.samples), samples+1)
	}
	// Without events the rate falls to 0 once every sample expired.
	if got := r.measure(5000+3*win, samples, win); got != 0 {
		t.Fatalf("rate after every sample expired = %v, want 0", got)
	}
	// Kafka's throttle time: (rate - quota) / quota × window.
	q := newQuotaManager(11, time.Second)
	var fresh quotaRate
	fresh.record(3000, 0, 11, 1000)
	if got := q.throttleTime(&fresh, 1000, 0, false); got != 2000 {
		t.Fatalf("throttle of 3000 against 1000/s = %d ms, want 2000", got)
	}
	if got := q.throttleTime(&fresh, 1000, 0, true); got != 1000 {
		t.Fatalf("bounded throttle = %d ms, want one window", got)
	}
	if got := q.throttleTime(&fresh, 3000, 0, false); got != 0 {
		t.Fatalf("throttle at exactly the quota = %d ms", got)
	}
}

func strp(s string) *string { return &s }

// quotaImageOf builds ClientQuotas from "type=name,type=name" entity
// strings (name <default> for the default entity) and values.
func quotaImageOf(t *testing.T, spec map[string]map[string]float64) map[string]ClientQuotaImage {
	t.Helper()
	out := map[string]ClientQuotaImage{}
	for e, values := range spec {
		var parts []QuotaEntityPart
		for _, c := range strings.Split(e, ",") {
			typ, name, ok := strings.Cut(c, "=")
			if !ok {
				t.Fatalf("bad entity %q", e)
			}
			p := QuotaEntityPart{Type: typ}
			if name != "<default>" {
				p.Name = strp(name)
			}
			parts = append(parts, p)
		}
		parts = sortedQuotaEntity(parts)
		out[quotaEntityKey(parts)] = ClientQuotaImage{Entity: parts, Values: values}
	}
	return out
}

// TestQuotaResolutionOrder walks Kafka's order of precedence: with a
// producer quota at each of the eight levels, the most specific one that
// matches user alice with client id app applies; removing it uncovers the
// next. It also checks which clients share a sensor.
func TestQuotaResolutionOrder(t *testing.T) {
	levels := []string{
		"user=alice,client-id=app",
		"user=alice,client-id=<default>",
		"user=alice",
		"user=<default>,client-id=app",
		"user=<default>,client-id=<default>",
		"user=<default>",
		"client-id=app",
		"client-id=<default>",
	}
	spec := map[string]map[string]float64{}
	for i, l := range levels {
		spec[l] = map[string]float64{quotaProducerByteRate: float64(i + 1)}
	}
	for i, l := range levels {
		cfg := newQuotaConfig(quotaImageOf(t, spec), nil)
		lim := &cfg.types[quotaProduce]
		u, c := lim.tags("alice", "app")
		got, ok := lim.limit(u, c)
		if !ok || got != float64(i+1) {
			t.Fatalf("with levels %d.. set: limit %v (%v), want %d (%s)", i+1, got, ok, i+1, l)
		}
		delete(spec, l)
	}
	cfg := newQuotaConfig(quotaImageOf(t, spec), nil)
	if _, ok := cfg.types[quotaProduce].limit(cfg.types[quotaProduce].tags("alice", "app")); ok || cfg.on() {
		t.Fatal("a quota applies with none set")
	}

	// Who shares a sensor: tags of (user, client id) for single levels.
	for _, tc := range []struct {
		entity       string
		user, client string // the tags of (alice, app)
	}{
		{"client-id=app", "", "app"},
		{"client-id=<default>", "", "app"},
		{"user=alice", "alice", ""},
		{"user=<default>", "alice", ""},
		{"user=alice,client-id=app", "alice", "app"},
		{"user=<default>,client-id=<default>", "alice", "app"},
	} {
		cfg := newQuotaConfig(quotaImageOf(t, map[string]map[string]float64{tc.entity: {quotaConsumerByteRate: 7}}), nil)
		lim := &cfg.types[quotaFetch]
		if u, c := lim.tags("alice", "app"); u != tc.user || c != tc.client {
			t.Errorf("%s: tags (%q, %q), want (%q, %q)", tc.entity, u, c, tc.user, tc.client)
		}
		if v, ok := lim.limit(lim.tags("alice", "app")); !ok || v != 7 {
			t.Errorf("%s: limit %v %v", tc.entity, v, ok)
		}
		if cfg.types[quotaProduce].enabled != 0 {
			t.Errorf("%s: a consumer quota enabled produce quotas", tc.entity)
		}
	}
	// A user quota and a client quota both set: the user's wins for its
	// users, the client's for the others.
	cfg = newQuotaConfig(quotaImageOf(t, map[string]map[string]float64{
		"user=alice": {quotaProducerByteRate: 1}, "client-id=app": {quotaProducerByteRate: 2},
	}), nil)
	lim := &cfg.types[quotaProduce]
	if v, _ := lim.limit(lim.tags("alice", "app")); v != 1 {
		t.Errorf("alice/app limit %v, want the user quota", v)
	}
	if v, _ := lim.limit(lim.tags("bob", "app")); v != 2 {
		t.Errorf("bob/app limit %v, want the client quota", v)
	}
	// ip entities: by address, by host name once resolved, and default.
	cfg = newQuotaConfig(quotaImageOf(t, map[string]map[string]float64{
		"ip=10.0.0.1": {quotaConnectionCreationRate: 5}, "ip=db.example": {quotaConnectionCreationRate: 6}, "ip=<default>": {quotaConnectionCreationRate: 9},
	}), func(h string) ([]netip.Addr, bool) {
		return []netip.Addr{netip.MustParseAddr("10.0.0.2")}, h == "db.example"
	})
	if cfg.ip[netip.MustParseAddr("10.0.0.1")] != 5 || cfg.ip[netip.MustParseAddr("10.0.0.2")] != 6 || cfg.ipDefault != 9 || cfg.on() {
		t.Errorf("ip quotas %v default %v on %v", cfg.ip, cfg.ipDefault, cfg.on())
	}
}

// describeStrings renders described quotas as sorted lines.
func describeStrings(qs kadm.DescribedClientQuotas) []string {
	var out []string
	for _, q := range qs {
		var vals []string
		for _, v := range q.Values {
			vals = append(vals, fmt.Sprintf("%s=%v", v.Key, v.Value))
		}
		sort.Strings(vals)
		out = append(out, q.Entity.String()+" "+strings.Join(vals, ","))
	}
	sort.Strings(out)
	return out
}

func admEntity(parts ...string) kadm.ClientQuotaEntity {
	var e kadm.ClientQuotaEntity
	for _, p := range parts {
		typ, name, _ := strings.Cut(p, "=")
		c := kadm.ClientQuotaEntityComponent{Type: typ}
		if name != "<default>" {
			c.Name = strp(name)
		}
		e = append(e, c)
	}
	return e
}

func mustAlterQuotas(t *testing.T, ctx context.Context, adm *kadm.Client, entries ...kadm.AlterClientQuotaEntry) {
	t.Helper()
	res, err := adm.AlterClientQuotas(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %s: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

func setQuota(key string, value float64) kadm.AlterClientQuotaOp {
	return kadm.AlterClientQuotaOp{Key: key, Value: value}
}

// TestClientQuotasAlterDescribe sets quotas on every kind of entity,
// describes them with each kind of filter (exact name, default, any
// entity of a type; strict or not), removes some, checks validate_only
// changes nothing, and that the quotas survive a restart.
func TestClientQuotasAlterDescribe(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	adm := tb.admin()
	mustAlterQuotas(t, ctx, adm,
		kadm.AlterClientQuotaEntry{Entity: admEntity("user=alice"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaProducerByteRate, 1024), setQuota(quotaConsumerByteRate, 2048)}},
		kadm.AlterClientQuotaEntry{Entity: admEntity("user=alice", "client-id=app"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaRequestPercentage, 50.5)}},
		kadm.AlterClientQuotaEntry{Entity: admEntity("user=<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaProducerByteRate, 512)}},
		kadm.AlterClientQuotaEntry{Entity: admEntity("client-id=<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConsumerByteRate, 4096), setQuota(quotaControllerMutationRate, 3)}},
		kadm.AlterClientQuotaEntry{Entity: admEntity("ip=10.0.0.1"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConnectionCreationRate, 10)}},
		kadm.AlterClientQuotaEntry{Entity: admEntity("ip=<default>"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaConnectionCreationRate, 100)}},
	)
	const (
		alice        = "{user=alice} consumer_byte_rate=2048,producer_byte_rate=1024"
		aliceApp     = "{client-id=app, user=alice} request_percentage=50.5"
		userDefault  = "{user=<default>} producer_byte_rate=512"
		clientDefalt = "{client-id=<default>} consumer_byte_rate=4096,controller_mutation_rate=3"
		ip           = "{ip=10.0.0.1} connection_creation_rate=10"
		ipDefault    = "{ip=<default>} connection_creation_rate=100"
	)
	exact := func(typ, name string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchName: strp(name), MatchType: kmsg.QuotasMatchTypeExact}
	}
	def := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeDefault}
	}
	anyOf := func(typ string) kadm.DescribeClientQuotaComponent {
		return kadm.DescribeClientQuotaComponent{Type: typ, MatchType: kmsg.QuotasMatchTypeAny}
	}
	cases := []struct {
		name   string
		strict bool
		filter []kadm.DescribeClientQuotaComponent
		want   []string
	}{
		{"everything", false, nil, []string{aliceApp, clientDefalt, ip, ipDefault, alice, userDefault}},
		{"empty strict filter", true, nil, nil},
		{"user alice", false, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, []string{aliceApp, alice}},
		{"user alice strict", true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}, []string{alice}},
		{"default user", false, []kadm.DescribeClientQuotaComponent{def("user")}, []string{userDefault}},
		{"any user", false, []kadm.DescribeClientQuotaComponent{anyOf("user")}, []string{aliceApp, alice, userDefault}},
		{"any user strict", true, []kadm.DescribeClientQuotaComponent{anyOf("user")}, []string{alice, userDefault}},
		{"user alice with any client", false, []kadm.DescribeClientQuotaComponent{exact("user", "alice"), anyOf("client-id")}, []string{aliceApp}},
		{"default client", true, []kadm.DescribeClientQuotaComponent{def("client-id")}, []string{clientDefalt}},
		{"client app", false, []kadm.DescribeClientQuotaComponent{exact("client-id", "app")}, []string{aliceApp}},
		{"client app strict", true, []kadm.DescribeClientQuotaComponent{exact("client-id", "app")}, nil},
		{"any ip", false, []kadm.DescribeClientQuotaComponent{anyOf("ip")}, []string{ip, ipDefault}},
		{"ip 10.0.0.1", false, []kadm.DescribeClientQuotaComponent{exact("ip", "10.0.0.1")}, []string{ip}},
		{"unknown user", false, []kadm.DescribeClientQuotaComponent{exact("user", "mallory")}, nil},
	}
	check := func(when string) {
		t.Helper()
		for _, c := range cases {
			got, err := adm.DescribeClientQuotas(ctx, c.strict, c.filter)
			if err != nil {
				t.Fatalf("%s: %s: %v", when, c.name, err)
			}
			want := slices.Clone(c.want)
			sort.Strings(want)
			if g := describeStrings(got); !slices.Equal(g, want) {
				t.Errorf("%s: %s:\n got %q\nwant %q", when, c.name, g, want)
			}
		}
	}
	check("after setting")

	// validate_only answers as a real change would and changes nothing.
	res, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: admEntity("user=alice"), Ops: []kadm.AlterClientQuotaOp{setQuota(quotaProducerByteRate, 1)}}})
	if err != nil || len(res) != 1 || res[0].Err != nil {
		t.Fatalf("validate only: %v %+v", err, res)
	}
	check("after validate_only")
	tb = tb.restart()
	adm = tb.admin()
	check("after a restart")

	// Removing keys; an entity without keys is gone. Removing a key that
	// is not set succeeds.
	mustAlterQuotas(t, ctx, adm, kadm.AlterClientQuotaEntry{Entity: admEntity("user=alice"), Ops: []kadm.AlterClientQuotaOp{
		{Key: quotaProducerByteRate, Remove: true}, {Key: quotaRequestPercentage, Remove: true},
	}})
	got, err := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")})
	if err != nil {
		t.Fatal(err)
	}
	if g := describeStrings(got); !slices.Equal(g, []string{"{user=alice} consumer_byte_rate=2048"}) {
		t.Fatalf("after removing producer_byte_rate: %q", g)
	}
	mustAlterQuotas(t, ctx, adm, kadm.AlterClientQuotaEntry{Entity: admEntity("user=alice"), Ops: []kadm.AlterClientQuotaOp{{Key: quotaConsumerByteRate, Remove: true}}})
	if got, _ := adm.DescribeClientQuotas(ctx, true, []kadm.DescribeClientQuotaComponent{exact("user", "alice")}); len(got) != 0 {
		t.Fatalf("entity left after removing its last key: %q", describeStrings(got))
	}
	if _, ok := tb.meta.Image().ClientQuotas[quotaEntityKey([]QuotaEntityPart{{Type: "user", Name: strp("alice")}})]; ok {
		t.Fatal("empty entity kept in the image")
	}
	tb = tb.restart()
	if got, _ := tb.admin().DescribeClientQuotas(ctx, false, nil); len(got) != 5 {
		t.Fatalf("after removals and a restart: %q", describeStrings(got))
	}
}

// alterRaw sends one AlterClientQuotas with a single entry and returns its
// result.
func alterRaw(t *testing.T, ctx context.Context, tb *testBroker, entries ...kmsg.AlterClientQuotasRequestEntry) *kmsg.AlterClientQuotasResponse {
	t.Helper()
	req := kmsg.NewPtrAlterClientQuotasRequest()
	req.Entries = entries
	resp, err := req.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func rawEntry(entity []string, ops ...kmsg.AlterClientQuotasRequestEntryOp) kmsg.AlterClientQuotasRequestEntry {
	e := kmsg.NewAlterClientQuotasRequestEntry()
	for _, c := range entity {
		typ, name, _ := strings.Cut(c, "=")
		ee := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ee.Type = typ
		if name != "<default>" {
			ee.Name = strp(name)
		}
		e.Entity = append(e.Entity, ee)
	}
	e.Ops = ops
	return e
}

func rawOp(key string, value float64) kmsg.AlterClientQuotasRequestEntryOp {
	return kmsg.AlterClientQuotasRequestEntryOp{Key: key, Value: value}
}

// TestAlterClientQuotasValidation checks Kafka's rules and messages, and
// that a refused entity changes nothing while the valid entries of the
// same request are applied.
func TestAlterClientQuotasValidation(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	cases := []struct {
		entity []string
		ops    []kmsg.AlterClientQuotasRequestEntryOp
		msg    string
	}{
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp("produce_byte_rate", 1)}, "Invalid configuration key produce_byte_rate"},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaConnectionCreationRate, 1)}, "Invalid configuration key connection_creation_rate"},
		{[]string{"ip=10.0.0.1"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 1)}, "Invalid configuration key producer_byte_rate"},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 0)}, "Quota producer_byte_rate must be greater than 0"},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaRequestPercentage, -5)}, "Quota request_percentage must be greater than 0"},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 10.5)}, "producer_byte_rate cannot be a fractional value."},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 1e19)}, "Proposed value for producer_byte_rate is too large for a LONG."},
		{[]string{"ip=10.0.0.1"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaConnectionCreationRate, 3e9)}, "Proposed value for connection_creation_rate is too large for an INT."},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaRequestPercentage, math.Inf(1))}, "Quota request_percentage must be a finite number"},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaRequestPercentage, math.NaN())}, "Quota request_percentage must be a finite number"},
		{nil, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 1)}, "Invalid empty client quota entity"},
		{[]string{"group=g"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 1)}, "Unhandled client quota entity type: group"},
		{[]string{"user="}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 1)}, "Empty user not supported"},
		{[]string{"ip=10.0.0.1", "user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaConnectionCreationRate, 1)}, "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"},
		{[]string{"ip=not a host"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaConnectionCreationRate, 1)}, "not a host is not a valid IP or resolvable host."},
		{[]string{"user=alice"}, []kmsg.AlterClientQuotasRequestEntryOp{rawOp(quotaProducerByteRate, 1), rawOp(quotaProducerByteRate, 2)}, "Ignoring duplicate entity ClientQuotaEntity(entries={user=alice})"},
	}
	for _, c := range cases {
		resp := alterRaw(t, ctx, tb, rawEntry(c.entity, c.ops...))
		if len(resp.Entries) != 1 {
			t.Fatalf("%v: %d results", c.entity, len(resp.Entries))
		}
		e := resp.Entries[0]
		if e.ErrorCode != kerr.InvalidRequest.Code || e.ErrorMessage == nil || *e.ErrorMessage != c.msg {
			msg := "<null>"
			if e.ErrorMessage != nil {
				msg = *e.ErrorMessage
			}
			t.Errorf("%v %v: error %d %q, want INVALID_REQUEST %q", c.entity, c.ops, e.ErrorCode, msg, c.msg)
		}
	}
	if n := len(tb.meta.Image().ClientQuotas); n != 0 {
		t.Fatalf("refused entries stored %d entities", n)
	}

	// One request: a valid entry, an entity named twice and an invalid
	// entry. Only the valid entry is applied; "localhost" resolves.
	resp := alterRaw(t, ctx, tb,
		rawEntry([]string{"client-id=ok"}, rawOp(quotaProducerByteRate, 100)),
		rawEntry([]string{"user=twice"}, rawOp(quotaProducerByteRate, 100)),
		rawEntry([]string{"user=bad"}, rawOp("nope", 1)),
		rawEntry([]string{"user=twice"}, rawOp(quotaConsumerByteRate, 100)),
		rawEntry([]string{"ip=localhost"}, rawOp(quotaConnectionCreationRate, 50)),
	)
	var got []string
	for _, e := range resp.Entries {
		msg := ""
		if e.ErrorMessage != nil {
			msg = *e.ErrorMessage
		}
		got = append(got, fmt.Sprintf("%s=%s %d %s", e.Entity[0].Type, *e.Entity[0].Name, e.ErrorCode, msg))
	}
	want := []string{
		"client-id=ok 0 ",
		"user=twice 42 Ignoring duplicate entity ClientQuotaEntity(entries={user=twice})",
		"user=bad 42 Invalid configuration key nope",
		"ip=localhost 0 ",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("results:\n got %q\nwant %q", got, want)
	}
	img := tb.meta.Image().ClientQuotas
	if len(img) != 2 {
		t.Fatalf("stored %d entities, want client-id=ok and ip=localhost: %v", len(img), img)
	}
}

// TestDescribeClientQuotasValidation checks the filter errors.
func TestDescribeClientQuotasValidation(t *testing.T) {
	tb := startBroker(t, nil)
	ctx := testCtx(t)
	comp := func(typ string, mt kmsg.QuotasMatchType, match *string) kmsg.DescribeClientQuotasRequestComponent {
		return kmsg.DescribeClientQuotasRequestComponent{EntityType: typ, MatchType: mt, Match: match}
	}
	for _, c := range []struct {
		comps []kmsg.DescribeClientQuotasRequestComponent
		code  int16
		msg   string
	}{
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("", 2, nil)}, kerr.InvalidRequest.Code, "Invalid empty entity type."},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, nil), comp("user", 0, strp("a"))}, kerr.InvalidRequest.Code, "Entity type user cannot appear more than once in the filter."},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("group", 2, nil)}, kerr.UnsupportedVersion.Code, "Unsupported entity type group"},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("user", 0, nil)}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null."},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("user", 1, strp("a"))}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("user", 2, strp("a"))}, kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("user", 7, nil)}, kerr.InvalidRequest.Code, "Unknown match type 7"},
		{[]kmsg.DescribeClientQuotasRequestComponent{comp("ip", 2, nil), comp("client-id", 1, nil)}, kerr.InvalidRequest.Code, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."},
	} {
		for _, v := range []int16{0, 1} {
			req := kmsg.NewPtrDescribeClientQuotasRequest()
			req.Version, req.Components = v, c.comps
			resp, err := req.RequestWith(ctx, tb.client())
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != c.code || resp.ErrorMessage == nil || *resp.ErrorMessage != c.msg || resp.Entries != nil {
				t.Errorf("v%d %+v: %d %v entries %v, want %d %q", v, c.comps, resp.ErrorCode, resp.ErrorMessage, resp.Entries, c.code, c.msg)
			}
		}
	}
}

// TestMetadataClientQuotaRecords applies client_quota records: a set adds
// or replaces a value, a removal deletes it and the entity with its last
// value; entities are keyed whatever the order of their components; the
// snapshot written at compaction rebuilds the same image; records that
// could not have been written are refused.
func TestMetadataClientQuotaRecords(t *testing.T) {
	dir := t.TempDir()
	s, err := openFileMetadataStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	alice := []QuotaEntityPart{{Type: "user", Name: strp("alice")}, {Type: "client-id"}}
	reversed := []QuotaEntityPart{{Type: "client-id"}, {Type: "user", Name: strp("alice")}}
	ip := []QuotaEntityPart{{Type: "ip", Name: strp("10.0.0.1")}}
	set := func(e []QuotaEntityPart, k string, v float64) MetadataRecord {
		return MetadataRecord{Type: ClientQuotaRecordType, Quota: &ClientQuotaRecord{Entity: e, Key: k, Value: v}}
	}
	if err := s.Apply(ctx,
		set(alice, quotaProducerByteRate, 100), set(reversed, quotaConsumerByteRate, 200), set(alice, quotaProducerByteRate, 150),
		set(ip, quotaConnectionCreationRate, 5),
		MetadataRecord{Type: ClientQuotaRecordType, Quota: &ClientQuotaRecord{Entity: ip, Key: quotaConnectionCreationRate, Remove: true}},
	); err != nil {
		t.Fatal(err)
	}
	want := map[string]ClientQuotaImage{quotaEntityKey(reversed): {Entity: reversed, Values: map[string]float64{quotaProducerByteRate: 150, quotaConsumerByteRate: 200}}}
	check := func(when string, got map[string]ClientQuotaImage) {
		t.Helper()
		render := func(m map[string]ClientQuotaImage) string {
			var out []string
			for k, q := range m {
				out = append(out, fmt.Sprintf("%q %s %v", k, quotaEntityString(q.Entity), q.Values))
			}
			sort.Strings(out)
			return strings.Join(out, "\n")
		}
		if render(got) != render(want) {
			t.Fatalf("%s: %v, want %v", when, got, want)
		}
	}
	check("applied", s.Image().ClientQuotas)
	s.Close()
	s, err = openFileMetadataStore(dir, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	check("replayed", s.Image().ClientQuotas)
	s.Close()
	if err := writeMetadataSnapshot(filepath.Join(dir, "metadata.log"), s.Image()); err != nil {
		t.Fatal(err)
	}
	img, _, _, err := replayMetadata(filepath.Join(dir, "metadata.log"))
	if err != nil {
		t.Fatal(err)
	}
	check("from the snapshot", img.ClientQuotas)

	for _, bad := range []*ClientQuotaRecord{
		nil,
		{Key: quotaProducerByteRate, Value: 1},
		{Entity: alice},
		{Entity: []QuotaEntityPart{{Type: "user"}, {Type: "user", Name: strp("a")}}, Key: quotaProducerByteRate, Value: 1},
		{Entity: alice, Key: quotaRequestPercentage, Value: math.NaN()},
		{Entity: alice, Key: quotaRequestPercentage, Value: math.Inf(1)},
	} {
		if err := img.clone().apply(MetadataRecord{Type: ClientQuotaRecordType, Quota: bad}); err == nil {
			t.Errorf("record %+v applied", bad)
		}
	}
}

// TestQuotaSensorsExpire checks that idle sensors are dropped after an
// hour, and after the measured window once there are many of them.
func TestQuotaSensorsExpire(t *testing.T) {
	q := newQuotaManager(11, time.Second)
	q.cfg.Store(newQuotaConfig(quotaImageOf(t, map[string]map[string]float64{"client-id=<default>": {quotaProducerByteRate: 1e9}}), nil))
	const minute = int64(time.Minute / time.Millisecond)
	q.record(quotaProduce, "u", "a", 1, 0)
	q.record(quotaProduce, "u", "b", 1, 30*minute)
	q.record(quotaProduce, "u", "c", 1, 61*minute)
	if len(q.sensors) != 2 {
		t.Fatalf("%d sensors after an hour, want b and c", len(q.sensors))
	}
	base := 70 * minute
	for i := 0; i <= quotaSensorSoftLimit; i++ {
		q.record(quotaProduce, "u", fmt.Sprint("many-", i), 1, base)
	}
	q.record(quotaProduce, "u", "late", 1, base+12000)
	if len(q.sensors) != 1 {
		t.Fatalf("%d sensors left past the soft limit, want only the active one", len(q.sensors))
	}
}
