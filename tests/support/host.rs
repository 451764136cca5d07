//! What the tests read from the machine and the local stack besides the
//! tables: secrets in the local Secrets Manager, and this process's memory.

/// Creates secret `name` holding `value` in the local Secrets Manager
/// (moto): its ARN and version id.
pub async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> (String, String) {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .expect("create the secret in moto");
    (
        created.arn().expect("an ARN").to_owned(),
        created.version_id().expect("a version").to_owned(),
    )
}

/// The peak resident set of this process so far, in bytes (`VmHWM`).
pub fn peak_memory() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    kib * 1024
}
