//! placeholder
#[derive(Debug, clap::Args)]
pub struct CallArgs {}
pub async fn call(_a: CallArgs) -> anyhow::Result<()> {
    Ok(())
}
