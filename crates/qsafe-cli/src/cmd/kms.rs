//! `qsafe kms-plugin`: the Kubernetes KMS v2 plugin of `qsafe-kms`, serving one store key on a
//! unix socket until SIGTERM or SIGINT (docs/kubernetes.md).

use qsafe_kms::Plugin;

use super::Out;
use crate::cli::KmsPluginArgs;
use crate::failure::{Failure, Outcome};

pub fn run(out: Out, args: KmsPluginArgs) -> Outcome {
    let store = super::store::open(&args.store)?;
    let plugin = Plugin::new(store, &args.key).map_err(|e| {
        Failure::error(
            format!("cannot serve key {}: {e}", args.key),
            "the key must exist and be a KEM key (`qsafe key create NAME --alg x-wing`)",
        )
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the runtime: {e}"), "see the error"))?;
    let socket = args.socket.clone();
    let key_id = plugin.key_id().unwrap_or_else(|| "(none yet)".into());
    runtime.block_on(async move {
        let serving = qsafe_kms::serve(plugin, &socket, super::shutdown_signal("qsafe kms-plugin"));
        out.say(format!(
            "qsafe kms-plugin: serving KMS v2 on unix://{} (key {}, key_id {key_id})",
            socket.display(),
            args.key
        ));
        serving.await.map_err(|e| {
            Failure::error(
                format!("KMS plugin on {}: {e}", socket.display()),
                "check the socket directory exists and is writable, and no other plugin owns it",
            )
        })
    })
}
