//! onramp's own AWS identity: the credentials that assume customers' roles. They
//! come from the usual AWS chain (environment, profile files, web identity for
//! EKS service accounts, the ECS and EC2 metadata endpoints), are loaded once per
//! process on first use, and are only ever sent to STS — the operator's STS
//! endpoint, never an address a tenant chose.

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::identity::SharedIdentityCache;
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct Platform {
    /// STS at an endpoint of the operator's choosing (a VPC endpoint, or an
    /// AWS-compatible server in tests); AWS's regional STS when absent.
    pub sts_endpoint: Option<String>,
    credentials: Arc<OnceCell<SharedCredentialsProvider>>,
    /// One cache for the process: the chain (IMDS, ECS, web identity) is asked
    /// again only when its credentials near their expiry, not once per job.
    pub(super) identity_cache: SharedIdentityCache,
}

impl Default for Platform {
    fn default() -> Platform {
        Platform::from_chain(None)
    }
}

impl Platform {
    /// The platform identity from the AWS chain, with STS where `sts_endpoint` says.
    pub fn from_chain(sts_endpoint: Option<String>) -> Platform {
        Platform {
            sts_endpoint,
            credentials: Arc::new(OnceCell::new()),
            identity_cache: aws_config::identity::IdentityCache::lazy().build(),
        }
    }

    /// The platform identity with these credentials (a deployment that hands them
    /// over itself, and the tests' own IAM user).
    pub fn with_credentials(
        sts_endpoint: Option<String>,
        credentials: SharedCredentialsProvider,
    ) -> Platform {
        Platform {
            sts_endpoint,
            credentials: Arc::new(OnceCell::new_with(Some(credentials))),
            identity_cache: aws_config::identity::IdentityCache::lazy().build(),
        }
    }

    /// The credentials that assume roles; the chain is built the first time.
    pub async fn credentials(&self) -> SharedCredentialsProvider {
        self.credentials
            .get_or_init(|| async {
                let chain =
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .build()
                        .await;
                SharedCredentialsProvider::new(chain)
            })
            .await
            .clone()
    }
}
