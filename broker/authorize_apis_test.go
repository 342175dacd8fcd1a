package broker

import (
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/skein-streaming/skein/protocol/records"
)

// authzNames are the resources every request of the authorization table
// names: they exist before the requests are sent.
type authzNames struct {
	topic      string
	topicID    TopicID
	group      string
	txnID      string
	producerID int64
	epoch      int16
}

// authzCase is how one API is exercised: the request to send at a version,
// and, for APIs that filter rather than refuse, how to tell that the
// resources named were left out.
type authzCase struct {
	versions []int16 // besides the API's highest version
	build    func(n authzNames, v int16) kmsg.Request
	omitted  func(n authzNames, resp kmsg.Response) bool
}

// authzExempt are the APIs Kafka serves without authorization.
var authzExempt = map[kmsg.Key]bool{kmsg.ApiVersions: true, kmsg.SASLHandshake: true, kmsg.SASLAuthenticate: true}

func authzCases() map[kmsg.Key]authzCase {
	batch := records.BuildBatch(records.CodecNone, 0, []records.Record{{Value: []byte("v")}})
	return map[kmsg.Key]authzCase{
		kmsg.Produce: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrProduceRequest()
			r.Acks, r.TimeoutMillis = -1, 5000
			r.Topics = []kmsg.ProduceRequestTopic{{Topic: n.topic, TopicID: n.topicID, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
			return r
		}},
		kmsg.Fetch: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrFetchRequest()
			r.MaxBytes, r.SessionEpoch = 1<<20, -1
			r.Topics = []kmsg.FetchRequestTopic{{Topic: n.topic, TopicID: n.topicID, Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20, CurrentLeaderEpoch: -1}}}}
			return r
		}},
		kmsg.ListOffsets: {versions: []int16{0}, build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			r.Topics = []kmsg.ListOffsetsRequestTopic{{Topic: n.topic, Partitions: []kmsg.ListOffsetsRequestTopicPartition{{Partition: 0, Timestamp: -1, CurrentLeaderEpoch: -1, MaxNumOffsets: 1}}}}
			return r
		}},
		kmsg.Metadata: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrMetadataRequest()
			r.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(n.topic)}}
			return r
		}},
		kmsg.OffsetCommit: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Group, r.Generation = n.group, -1
			r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: n.topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}}}
			return r
		}},
		kmsg.OffsetFetch: {versions: []int16{7}, build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Group = n.group
			r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: n.group}}
			return r
		}},
		kmsg.FindCoordinator: {versions: []int16{0, 3}, build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrFindCoordinatorRequest()
			r.CoordinatorKey, r.CoordinatorKeys = n.group, []string{n.group}
			return r
		}},
		kmsg.JoinGroup: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Group, r.SessionTimeoutMillis, r.RebalanceTimeoutMillis, r.ProtocolType = n.group, 10000, 10000, "consumer"
			r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
			return r
		}},
		kmsg.Heartbeat: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Group, r.MemberID = n.group, "m"
			return r
		}},
		kmsg.LeaveGroup: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group, r.MemberID = n.group, "m"
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
			return r
		}},
		kmsg.SyncGroup: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Group, r.MemberID = n.group, "m"
			r.ProtocolType, r.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
			return r
		}},
		kmsg.DescribeGroups: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups, r.IncludeAuthorizedOperations = []string{n.group}, true
			return r
		}},
		kmsg.ListGroups: {
			build: func(n authzNames, v int16) kmsg.Request { return kmsg.NewPtrListGroupsRequest() },
			omitted: func(n authzNames, resp kmsg.Response) bool {
				for _, g := range resp.(*kmsg.ListGroupsResponse).Groups {
					if g.Group == n.group {
						return false
					}
				}
				return true
			},
		},
		kmsg.CreateTopics: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.TimeoutMillis = 5000
			r.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: n.topic + "-new", NumPartitions: 1, ReplicationFactor: 1}}
			return r
		}},
		kmsg.DeleteTopics: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteTopicsRequest()
			r.TimeoutMillis = 5000
			r.TopicNames = []string{n.topic}
			r.Topics = []kmsg.DeleteTopicsRequestTopic{{Topic: kmsg.StringPtr(n.topic)}}
			return r
		}},
		kmsg.DeleteRecords: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			r.TimeoutMillis = 5000
			r.Topics = []kmsg.DeleteRecordsRequestTopic{{Topic: n.topic, Partitions: []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -1}}}}
			return r
		}},
		kmsg.OffsetForLeaderEpoch: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.ReplicaID = -1
			r.Topics = []kmsg.OffsetForLeaderEpochRequestTopic{{Topic: n.topic, Partitions: []kmsg.OffsetForLeaderEpochRequestTopicPartition{{Partition: 0, CurrentLeaderEpoch: -1}}}}
			return r
		}},
		kmsg.DescribeConfigs: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeConfigsRequest()
			r.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: n.topic}, {ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}}
			return r
		}},
		kmsg.AlterConfigs: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.Resources = []kmsg.AlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: n.topic, Configs: []kmsg.AlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}}}
			return r
		}},
		kmsg.IncrementalAlterConfigs: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r.Resources = []kmsg.IncrementalAlterConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: n.topic, Configs: []kmsg.IncrementalAlterConfigsRequestResourceConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}}}
			return r
		}},
		kmsg.DescribeLogDirs: {
			versions: []int16{0},
			build:    func(n authzNames, v int16) kmsg.Request { return kmsg.NewPtrDescribeLogDirsRequest() },
			omitted: func(n authzNames, resp kmsg.Response) bool {
				return len(resp.(*kmsg.DescribeLogDirsResponse).Dirs) == 0
			},
		},
		kmsg.CreatePartitions: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.TimeoutMillis = 5000
			r.Topics = []kmsg.CreatePartitionsRequestTopic{{Topic: n.topic, Count: 2}}
			return r
		}},
		kmsg.DescribeACLs: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeACLsRequest()
			r.ResourceType, r.ResourcePatternType, r.Operation, r.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return r
		}},
		kmsg.CreateACLs: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrCreateACLsRequest()
			r.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: n.topic, ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral,
				Principal: "User:nobody", Host: "*", Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}}
			return r
		}},
		kmsg.DeleteACLs: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteACLsRequest()
			r.Filters = []kmsg.DeleteACLsRequestFilter{{ResourceType: kmsg.ACLResourceTypeAny, ResourcePatternType: kmsg.ACLResourcePatternTypeAny,
				Principal: kmsg.StringPtr("User:nobody"), Operation: kmsg.ACLOperationAny, PermissionType: kmsg.ACLPermissionTypeAny}}
			return r
		}},
		kmsg.ElectLeaders: {versions: []int16{0}, build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			r.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: n.topic, Partitions: []int32{0}}}
			return r
		}},
		kmsg.AlterPartitionAssignments: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			r.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: n.topic, Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0}}}}
			return r
		}},
		kmsg.ListPartitionReassignments: {build: func(n authzNames, v int16) kmsg.Request {
			return kmsg.NewPtrListPartitionReassignmentsRequest()
		}},
		kmsg.DescribeQuorum: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeQuorumRequest()
			r.Topics = []kmsg.DescribeQuorumRequestTopic{{Topic: "__cluster_metadata", Partitions: []kmsg.DescribeQuorumRequestTopicPartition{{Partition: 0}}}}
			return r
		}},
		kmsg.UnregisterBroker: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrUnregisterBrokerRequest()
			r.BrokerID = 99
			return r
		}},
		kmsg.DescribeCluster: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeClusterRequest()
			r.EndpointType = 1
			return r
		}},
		kmsg.InitProducerID: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrInitProducerIDRequest()
			r.TransactionalID, r.TransactionTimeoutMillis, r.ProducerID, r.ProducerEpoch = kmsg.StringPtr(n.txnID), 60000, -1, -1
			return r
		}},
		kmsg.AddPartitionsToTxn: {versions: []int16{3}, build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			r.TransactionalID, r.ProducerID, r.ProducerEpoch = n.txnID, n.producerID, n.epoch
			r.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: n.topic, Partitions: []int32{0}}}
			r.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: n.txnID, ProducerID: n.producerID, ProducerEpoch: n.epoch,
				Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: n.topic, Partitions: []int32{0}}}}}
			return r
		}},
		kmsg.AddOffsetsToTxn: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrAddOffsetsToTxnRequest()
			r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = n.txnID, n.producerID, n.epoch, n.group
			return r
		}},
		kmsg.EndTxn: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrEndTxnRequest()
			r.TransactionalID, r.ProducerID, r.ProducerEpoch = n.txnID, n.producerID, n.epoch
			return r
		}},
		kmsg.WriteTxnMarkers: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrWriteTxnMarkersRequest()
			r.Markers = []kmsg.WriteTxnMarkersRequestMarker{{ProducerID: n.producerID, ProducerEpoch: n.epoch,
				Topics: []kmsg.WriteTxnMarkersRequestMarkerTopic{{Topic: n.topic, Partitions: []int32{0}}}}}
			return r
		}},
		kmsg.TxnOffsetCommit: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrTxnOffsetCommitRequest()
			r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch, r.Generation = n.txnID, n.group, n.producerID, n.epoch, -1
			r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: n.topic, Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 0}}}}
			return r
		}},
		kmsg.DescribeProducers: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeProducersRequest()
			r.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: n.topic, Partitions: []int32{0}}}
			return r
		}},
		kmsg.DescribeTransactions: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDescribeTransactionsRequest()
			r.TransactionalIDs = []string{n.txnID}
			return r
		}},
		kmsg.ListTransactions: {
			build: func(n authzNames, v int16) kmsg.Request { return kmsg.NewPtrListTransactionsRequest() },
			omitted: func(n authzNames, resp kmsg.Response) bool {
				for _, s := range resp.(*kmsg.ListTransactionsResponse).TransactionStates {
					if s.TransactionalID == n.txnID {
						return false
					}
				}
				return true
			},
		},
		kmsg.DeleteGroups: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{n.group}
			return r
		}},
		kmsg.OffsetDelete: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = n.group
			r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: n.topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
			return r
		}},
		kmsg.ConsumerGroupHeartbeat: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Group, r.MemberID, r.MemberEpoch, r.RebalanceTimeoutMillis = n.group, "mallory-member-0000000", 0, 10000
			r.SubscribedTopicNames = []string{n.topic}
			r.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			return r
		}},
		kmsg.ConsumerGroupDescribe: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.Groups, r.IncludeAuthorizedOperations = []string{n.group}, true
			return r
		}},
		kmsg.DescribeUserSCRAMCredentials: {build: func(n authzNames, v int16) kmsg.Request {
			return kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
		}},
		kmsg.DescribeClientQuotas: {build: func(n authzNames, v int16) kmsg.Request {
			return kmsg.NewPtrDescribeClientQuotasRequest()
		}},
		kmsg.AlterClientQuotas: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrAlterClientQuotasRequest()
			r.Entries = []kmsg.AlterClientQuotasRequestEntry{{
				Entity: []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("nobody")}},
				Ops:    []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1 << 30}},
			}}
			return r
		}},
		kmsg.AlterUserSCRAMCredentials: {build: func(n authzNames, v int16) kmsg.Request {
			r := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
			r.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "nobody", Mechanism: 2, Iterations: 4096,
				Salt: []byte("0123456789abcdef"), SaltedPassword: make([]byte, 64)}}
			return r
		}},
	}
}

// authorizationCodes are the error codes of a refused authorization.
var authorizationCodes = map[int16]bool{
	kerr.TopicAuthorizationFailed.Code:           true,
	kerr.GroupAuthorizationFailed.Code:           true,
	kerr.ClusterAuthorizationFailed.Code:         true,
	kerr.TransactionalIDAuthorizationFailed.Code: true,
}

// errorCodes collects every ErrorCode field of a response, at any depth.
func errorCodes(v reflect.Value, out *[]int16) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			errorCodes(v.Elem(), out)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			errorCodes(v.Index(i), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "ErrorCode" && f.Type.Kind() == reflect.Int16 {
				*out = append(*out, int16(v.Field(i).Int()))
				continue
			}
			if f.IsExported() {
				errorCodes(v.Field(i), out)
			}
		}
	}
}

func refused(resp kmsg.Response) bool {
	var codes []int16
	errorCodes(reflect.ValueOf(resp), &codes)
	for _, c := range codes {
		if authorizationCodes[c] {
			return true
		}
	}
	return false
}

// requestAs sends req on c with the client id user, which the test broker
// takes as the principal User:<user>.
func requestAs(t *testing.T, c net.Conn, user string, corr int32, req kmsg.Request) kmsg.Response {
	t.Helper()
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID(user))
	if _, err := c.Write(f.AppendRequest(nil, req, corr)); err != nil {
		t.Fatalf("%s v%d: write: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(readResponse(t, c, corr, req.Key(), resp.IsFlexible())); err != nil {
		t.Fatalf("%s v%d: decode response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// authzState is what a request could change: topics, their configs and
// offsets, groups and their offsets, ACLs, SCRAM credentials and
// transactions.
func authzState(t *testing.T, tb *testBroker, n authzNames) string {
	t.Helper()
	img := tb.meta.Image()
	var b strings.Builder
	var topics []string
	for name, ti := range img.Topics {
		topics = append(topics, fmt.Sprintf("%s:%v", name, ti.Configs))
	}
	sort.Strings(topics)
	fmt.Fprintf(&b, "topics %v; acls %d; scram %d; quotas %d; broker configs %v\n", topics, len(img.ACLs), len(img.ScramCredentials), len(img.ClientQuotas), img.BrokerConfigs)
	if t := tb.lookupTopic(n.topic); t != nil {
		for _, p := range t.hosted() {
			fmt.Fprintf(&b, "partition %d: start %d end %d\n", p.index, p.log.LogStartOffset(), p.highWatermark())
		}
	}
	lg := kmsg.NewPtrListGroupsRequest()
	for _, g := range tb.groups.ListGroups(lg).Groups {
		fmt.Fprintf(&b, "group %s %s %s\n", g.Group, g.GroupType, g.GroupState)
	}
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Version, of.Group = 7, n.group
	for _, tp := range tb.groups.OffsetFetch(of).Topics {
		for _, p := range tp.Partitions {
			fmt.Fprintf(&b, "offset %s/%d %d\n", tp.Topic, p.Partition, p.Offset)
		}
	}
	for _, s := range tb.txns.coord.Describe([]string{n.txnID}) {
		fmt.Fprintf(&b, "txn %s %s %d/%d %v\n", s.TransactionalID, s.State, s.ProducerID, s.ProducerEpoch, s.Topics)
	}
	return b.String()
}

// TestAuthorizeEveryAPI sends every served API, naming a real topic, group
// and transactional id, as a principal without ACLs: each must refuse with
// an authorization error (or leave the resources out of a listing) and
// change nothing. The same requests from a super user are never refused.
// An API added to the table in apis.go without a case here fails the test.
func TestAuthorizeEveryAPI(t *testing.T) {
	ctx := testCtx(t)
	tb := startACLBroker(t, t.TempDir(), aclSettings(nil))
	adm := tb.aclAdmin("admin")
	n := authzNames{topic: "phi", group: "g", txnID: "tx"}
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, n.topic); err != nil {
		t.Fatal(err)
	}
	n.topicID = tb.lookupTopic(n.topic).id
	txc := tb.aclClient("admin", kgo.TransactionalID(n.txnID), kgo.DefaultProduceTopic(n.topic))
	if err := txc.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txc.ProduceSync(ctx, &kgo.Record{Value: []byte("record")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := txc.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	for _, s := range tb.txns.coord.Describe([]string{n.txnID}) {
		n.producerID, n.epoch = s.ProducerID, s.ProducerEpoch
	}
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Group, oc.Generation = n.group, -1
	oc.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: n.topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}}}
	if resp, err := oc.RequestWith(ctx, tb.aclClient("admin")); err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit as admin: %v %+v", err, resp)
	}

	cases := authzCases()
	run := func(user string, check func(key kmsg.Key, v int16, c authzCase, resp kmsg.Response)) {
		c := tb.dial()
		defer c.Close()
		corr := int32(0)
		for _, a := range tb.apis {
			if a == nil || authzExempt[a.key] {
				continue
			}
			tc, ok := cases[a.key]
			if !ok {
				t.Errorf("%s has no authorization case", a.key.Name())
				continue
			}
			for _, v := range append([]int16{a.max}, tc.versions...) {
				req := tc.build(n, v)
				req.SetVersion(v)
				corr++
				check(a.key, v, tc, requestAs(t, c, user, corr, req))
			}
		}
	}

	before := authzState(t, tb, n)
	run("mallory", func(key kmsg.Key, v int16, c authzCase, resp kmsg.Response) {
		if refused(resp) || (c.omitted != nil && c.omitted(n, resp)) {
			return
		}
		t.Errorf("%s v%d from a principal without ACLs was not refused: %+v", key.Name(), v, resp)
	})
	if after := authzState(t, tb, n); after != before {
		t.Errorf("requests refused changed the broker:\nbefore\n%s\nafter\n%s", before, after)
	}
	run("admin", func(key kmsg.Key, v int16, c authzCase, resp kmsg.Response) {
		if refused(resp) || (c.omitted != nil && c.omitted(n, resp)) {
			t.Errorf("%s v%d from the super user was refused: %+v", key.Name(), v, resp)
		}
	})
}
