package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/skein-streaming/skein/test/cluster/clustertest"
)

// registryMediaType is the Confluent Schema Registry's media type.
const registryMediaType = "application/vnd.schemaregistry.v1+json"

// registration is one acknowledged registration.
type registration struct {
	subject, schema string
	id              int
}

// TestSchemaRegistryFailover runs the embedded schema registry on each of
// three nodes, each on a port of its own, as one registry: the instances
// share the _schemas topic (replication factor 3, min.insync.replicas=2)
// and elect one writer. Schemas registered through node 2 read by id and
// by subject and version through nodes 1 and 3. The node hosting the
// writer is then SIGKILLed while registrations go on through the two
// survivors; they must succeed again once another instance is writer
// (the group session timeout, 10 s, bounds it). Afterwards every
// surviving instance must hold every acknowledged registration, agree on
// every id, and bind every id to exactly one schema.
func TestSchemaRegistryFailover(t *testing.T) {
	longTest(t)
	regAddr := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		p, err := clustertest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		regAddr[id] = "127.0.0.1:" + strconv.Itoa(p)
	}
	url := func(n *clustertest.Node) string { return "http://" + regAddr[n.ID] }
	c := startCluster(t, clustertest.Options{
		Nodes: 3,
		NodeSettings: func(n *clustertest.Node) map[string]string {
			return map[string]string{"skein.registry.address": regAddr[n.ID]}
		},
	})
	start := time.Now()
	for _, n := range c.Nodes() {
		c.PollUntil(time.Minute, fmt.Sprintf("node %d's registry serving", n.ID), func() error {
			_, _, err := registryCall(url(n), "GET", "/subjects", "")
			return err
		})
	}
	t.Logf("registries serving %v after the cluster formed", time.Since(start).Round(time.Millisecond))

	// The topic is replicated on every node, an acknowledged write on two.
	adm := kadm.NewClient(c.NewClient())
	ctx := context.Background()
	topics, err := adm.ListTopics(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	if p := topics["_schemas"].Partitions[0]; len(topics["_schemas"].Partitions) != 1 || len(p.Replicas) != 3 {
		t.Fatalf("_schemas partitions %+v, want one partition with 3 replicas", topics["_schemas"].Partitions)
	}
	cfgs, err := adm.DescribeTopicConfigs(ctx, "_schemas")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On("_schemas", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"min.insync.replicas": "2", "cleanup.policy": "compact"}
	for _, cfg := range rc.Configs {
		if w, ok := want[cfg.Key]; ok {
			if cfg.Value == nil || *cfg.Value != w {
				t.Errorf("_schemas %s = %v, want %s", cfg.Key, cfg.MaybeValue(), w)
			}
			delete(want, cfg.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("_schemas lacks configs %v", want)
	}

	var (
		mu    sync.Mutex
		acked []registration
	)
	ack := func(r registration) {
		mu.Lock()
		acked = append(acked, r)
		mu.Unlock()
	}
	// register retries one registration through base until it is
	// acknowledged or timeout passes; only a 200 counts.
	register := func(base, subject, schema string, timeout time.Duration) (int, error) {
		var last error
		for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			body, _ := json.Marshal(map[string]string{"schema": schema})
			status, out, err := registryCall(base, "POST", "/subjects/"+subject+"/versions", string(body))
			if err == nil && status == http.StatusOK {
				var r struct{ ID int }
				if err := json.Unmarshal(out, &r); err != nil || r.ID <= 0 {
					return 0, fmt.Errorf("register %s: %s", subject, out)
				}
				ack(registration{subject, schema, r.ID})
				return r.ID, nil
			}
			last = fmt.Errorf("%d %s %v", status, out, err)
		}
		return 0, fmt.Errorf("register %s through %s: not acknowledged within %v: %v", subject, base, timeout, last)
	}
	schema := func(name string) string {
		return fmt.Sprintf(`{"type":"record","name":%q,"fields":[{"name":"f","type":"string"}]}`, name)
	}

	// Registrations through node 2, read through nodes 1 and 3. Without
	// compatibility checks, unrelated schemas share subjects, so that
	// concurrent registrations race for the same subject versions.
	n2 := c.Node(2)
	c.PollUntil(30*time.Second, "global compatibility NONE through node 2", func() error {
		status, out, err := registryCall(url(n2), "PUT", "/config", `{"compatibility":"NONE"}`)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("%d %s", status, out)
		}
		return err
	})
	for i := range 4 {
		subject := fmt.Sprintf("orders-%d-value", i%2)
		if _, err := register(url(n2), subject, schema(fmt.Sprintf("Order%d", i)), 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*clustertest.Node{c.Node(1), c.Node(3)} {
		checkRegistrations(t, url(n), acked)
		for _, r := range acked {
			// By subject and version, as a deserializer of an older
			// client asks.
			status, out, err := registryCall(url(n), "GET", "/subjects/"+r.subject+"/versions", "")
			if err != nil || status != 200 {
				t.Fatalf("node %d: versions of %s: %d %s %v", n.ID, r.subject, status, out, err)
			}
			var versions []int
			_ = json.Unmarshal(out, &versions)
			found := false
			for _, v := range versions {
				_, out, _ := registryCall(url(n), "GET", fmt.Sprintf("/subjects/%s/versions/%d", r.subject, v), "")
				var sv struct {
					ID     int
					Schema string
				}
				_ = json.Unmarshal(out, &sv)
				found = found || sv.ID == r.id && sv.Schema == r.schema
			}
			if !found {
				t.Errorf("node %d: no version of %s with id %d among %v", n.ID, r.subject, r.id, versions)
			}
		}
	}

	// Find the writer: every instance names it when an election ends.
	var writer *clustertest.Node
	c.PollUntil(30*time.Second, "every instance naming the same writer", func() error {
		var urls []string
		for _, n := range c.Nodes() {
			urls = append(urls, lastWriter(n))
		}
		if urls[0] == "" || len(slices.Compact(slices.Clone(urls))) != 1 {
			return fmt.Errorf("writers named: %v", urls)
		}
		for _, n := range c.Nodes() {
			if url(n) == urls[0] {
				writer = n
				return nil
			}
		}
		return clustertest.Permanent(fmt.Errorf("writer %s is none of the nodes", urls[0]))
	})
	var survivors []*clustertest.Node
	for _, n := range c.Nodes() {
		if n != writer {
			survivors = append(survivors, n)
		}
	}
	t.Logf("writer on node %d; killing it", writer.ID)

	// Registrations go on through both survivors while the writer dies:
	// each is retried until acknowledged, so none is given up.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, n := range survivors {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				subject := fmt.Sprintf("during-%d-value", k%3)
				if _, err := register(url(n), subject, schema(fmt.Sprintf("During%d_%d", i, k)), 45*time.Second); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	killed := time.Now()
	writer.Kill()
	// A registration through a survivor of a schema never seen before
	// succeeds once another instance is writer.
	if _, err := register(url(survivors[0]), "after-kill-value", schema("AfterKill"), 45*time.Second); err != nil {
		t.Fatal(err)
	}
	failover := time.Since(killed)
	t.Logf("first registration after the kill acknowledged %v after it", failover.Round(time.Millisecond))
	if _, err := register(url(survivors[1]), "after-kill-value", schema("AfterKill2"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	newWriter := ""
	for _, n := range survivors {
		if w := lastWriter(n); w != "" && w != url(writer) {
			newWriter = w
		}
	}
	if newWriter == "" {
		t.Errorf("no survivor names a new writer")
	}
	t.Logf("%d registrations acknowledged; new writer %s", len(acked), newWriter)

	for _, n := range survivors {
		checkRegistrations(t, url(n), acked)
	}
	// Every id maps to exactly one schema, the same on every survivor.
	all := map[int]string{}
	for _, n := range survivors {
		for id, s := range registryIDs(t, url(n)) {
			if prev, ok := all[id]; ok && prev != s {
				t.Errorf("id %d is %s on one instance and %s on node %d", id, prev, s, n.ID)
			}
			all[id] = s
		}
	}
	bySchema := map[string]int{}
	for id, s := range all {
		if prev, ok := bySchema[s]; ok && prev != id {
			t.Errorf("schema %s has ids %d and %d", s, prev, id)
		}
		bySchema[s] = id
	}
	for _, r := range acked {
		if all[r.id] != r.schema {
			t.Errorf("acknowledged id %d (%s) is %q in the registry", r.id, r.schema, all[r.id])
		}
	}
}

// writerRE finds the writer an instance names at the end of an election.
var writerRE = regexp.MustCompile(`schema registry writer elected.* writer=(\S+)`)

// lastWriter is the writer URL the node's log names last ("" if none).
func lastWriter(n *clustertest.Node) string {
	m := writerRE.FindAllStringSubmatch(n.ReadLog(), -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// registryCall sends one request to a registry and returns the status and
// body.
func registryCall(base, method, path, body string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", registryMediaType)
	}
	req.Header.Set("Accept", registryMediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusOK && method == "GET" {
		return resp.StatusCode, out, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(out))
	}
	return resp.StatusCode, out, nil
}

// checkRegistrations checks that base serves every registration: its id
// returns its schema, and looking the schema up under its subject
// returns its id.
func checkRegistrations(t *testing.T, base string, acked []registration) {
	t.Helper()
	for _, r := range acked {
		_, out, err := registryCall(base, "GET", fmt.Sprintf("/schemas/ids/%d/schema", r.id), "")
		if err != nil || string(bytes.TrimSpace(out)) != r.schema {
			t.Errorf("%s: schema %d = %s %v, want %s", base, r.id, out, err, r.schema)
		}
		body, _ := json.Marshal(map[string]string{"schema": r.schema})
		status, out, err := registryCall(base, "POST", "/subjects/"+r.subject, string(body))
		var v struct{ ID int }
		if err != nil || status != 200 || json.Unmarshal(out, &v) != nil || v.ID != r.id {
			t.Errorf("%s: %s lookup of id %d: %d %s %v", base, r.subject, r.id, status, out, err)
		}
	}
}

// registryIDs reads every subject version of base, soft-deleted ones
// included, and returns each id's schema; an id found with two schemas
// fails the test.
func registryIDs(t *testing.T, base string) map[int]string {
	t.Helper()
	_, out, err := registryCall(base, "GET", "/subjects?deleted=true", "")
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	if err := json.Unmarshal(out, &subjects); err != nil {
		t.Fatalf("%s: subjects %s: %v", base, out, err)
	}
	ids := map[int]string{}
	for _, s := range subjects {
		_, out, err := registryCall(base, "GET", "/subjects/"+s+"/versions?deleted=true", "")
		if err != nil {
			t.Fatal(err)
		}
		var versions []int
		_ = json.Unmarshal(out, &versions)
		for _, v := range versions {
			_, out, err := registryCall(base, "GET", fmt.Sprintf("/subjects/%s/versions/%d?deleted=true", s, v), "")
			if err != nil {
				t.Fatal(err)
			}
			var sv struct {
				ID     int
				Schema string
			}
			if err := json.Unmarshal(out, &sv); err != nil {
				t.Fatalf("%s: %s version %d: %s", base, s, v, out)
			}
			if prev, ok := ids[sv.ID]; ok && prev != sv.Schema {
				t.Errorf("%s: id %d is both %s and %s", base, sv.ID, prev, sv.Schema)
			}
			ids[sv.ID] = sv.Schema
		}
	}
	return ids
}
