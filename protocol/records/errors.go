package records

import (
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// RecordErrorsMax bounds how many per-record errors one Error carries. Kafka
// reports every failing record; a batch of millions of keyless records would
// then cost memory proportional to the record count, so Skein reports the
// first RecordErrorsMax and counts the rest in the message.
const RecordErrorsMax = 4096

// RecordError is one rejected record of a batch, as ProduceResponse v8+
// carries it (KIP-467). kmsg names the index field RelativeOffset; Kafka's
// message schema names it BatchIndex.
type RecordError struct {
	// BatchIndex is the position of the record in its batch, from 0.
	BatchIndex int32
	// Message says why the record was rejected.
	Message string
}

// String formats the error as Kafka's ProduceResponse.RecordError does, so
// that the overall message matches the one Kafka builds from it.
func (e RecordError) String() string {
	return "RecordError(batchIndex=" + strconv.Itoa(int(e.BatchIndex)) + ", message='" + e.Message + "')"
}

// Error is a rejected Produce partition: the Kafka error code to put on the
// partition response and the reason.
//
// Use errors.Is(err, kerr.CorruptMessage) and friends to branch on the code:
// Unwrap returns Code.
type Error struct {
	// Code is the Kafka error for the partition response.
	Code *kerr.Error
	// Message is the reason, worded as Kafka words its exception message.
	Message string
	// RecordErrors lists the rejected records when the batch failed
	// per-record rules (compacted topic without key, timestamp out of
	// range); nil for batch-level failures. At most RecordErrorsMax entries.
	RecordErrors []RecordError
}

// Error implements error.
func (e *Error) Error() string {
	return e.Code.Message + ": " + e.Message
}

// Unwrap returns the Kafka error code.
func (e *Error) Unwrap() error { return e.Code }

// ResponseErrorMessage is the value for the partition's ErrorMessage field in
// a ProduceResponse (v8+). Kafka fills it only for per-record failures; for
// every other error it leaves the field null, so this returns nil then.
func (e *Error) ResponseErrorMessage() *string {
	if e.RecordErrors == nil {
		return nil
	}
	m := e.Message
	return &m
}

func newError(code *kerr.Error, msg string) *Error {
	return &Error{Code: code, Message: msg}
}

// inPartition appends Kafka's " in topic partition <tp>" suffix when the
// caller named the partition.
func inPartition(tp string) string {
	if tp == "" {
		return ""
	}
	return " in topic partition " + tp
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// recordValidationError builds the error Kafka's LogValidator.processRecordErrors
// throws once a batch has per-record failures. total counts every failing
// record, including those beyond RecordErrorsMax.
func recordValidationError(errs []RecordError, total int, anyTimestamp bool) *Error {
	own := make([]RecordError, len(errs))
	copy(own, errs)
	if anyTimestamp {
		return &Error{
			Code:         kerr.InvalidTimestamp,
			Message:      "One or more records have been rejected due to invalid timestamp",
			RecordErrors: own,
		}
	}
	var b strings.Builder
	b.WriteString("One or more records have been rejected due to ")
	b.WriteString(strconv.Itoa(total))
	b.WriteString(" record errors in total, and only showing the first three errors at most: [")
	for i := 0; i < len(own) && i < 3; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(own[i].String())
	}
	b.WriteString("]")
	return &Error{Code: kerr.InvalidRecord, Message: b.String(), RecordErrors: own}
}
