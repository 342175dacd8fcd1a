// Package sasl implements the server side of the SASL mechanisms Skein
// serves: PLAIN (RFC 4616) with users from a Kafka JAAS configuration, and
// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) with credentials
// stored as salted keys only, and OAUTHBEARER (RFC 7628) with signed JWT
// access tokens checked against the keys of a JWKS, as Kafka's
// OAuthBearerValidatorCallbackHandler checks them (KIP-768).
//
// The package knows nothing about connections or Kafka requests: a
// Mechanism consumes client tokens and produces server tokens until it
// reports the authenticated user or an error.
package sasl
