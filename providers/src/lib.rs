//! obp providers: one module per provider (gitops, kubernetes, postgres, s3, dns, redis).
//!
//! Filled in by the provider issues; nothing here yet.
