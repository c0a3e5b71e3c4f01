use snowbridge::{Query, Resolution, Snowbridge};
#[tokio::main]
async fn main() -> snowbridge::Result<()> {
    let local = Snowbridge::from_env()?.connect("local").await?;
    let active = local.records("incident", Query::new("active=true").fields(["number"]));
    active.for_each(|incident| println!("{incident}")).await?;
    let fix = Resolution::new("Solution provided", "Fixed from a Rust script");
    println!("{:?}", local.resolve("INC0010001", &fix).await?.via);
    Ok(())
}
