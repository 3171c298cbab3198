//! CPU seconds this process spends per small locked PUT (the cost of a tile).
//! Usage: put_cost ENDPOINT BUCKET N [SIZE]
use archive::store::Store;
use sha2::{Digest, Sha256};

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (endpoint, bucket) = (a[1].clone(), a[2].clone());
    let n: usize = a[3].parse().unwrap_or(1000);
    let size: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(8192);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = Store::connect(Some(&endpoint), "us-east-1", &bucket, true).await;
        let tag = std::process::id();
        let start = cpu_secs();
        let wall = std::time::Instant::now();
        use futures::StreamExt;
        let mut s = futures::stream::iter((0..n).map(|i| {
            let store = &store;
            async move {
                let mut bytes = vec![0u8; size];
                bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let sha: [u8; 32] = Sha256::digest(&bytes).into();
                store
                    .put_locked(
                        &format!("putcost/{tag}/{i}"),
                        bytes,
                        &sha,
                        2_000_000_000,
                        "application/octet-stream",
                    )
                    .await
                    .expect("put")
            }
        }))
        .buffer_unordered(a.get(5).and_then(|s| s.parse().ok()).unwrap_or(16));
        while s.next().await.is_some() {}
        let cpu = cpu_secs() - start;
        println!(
            "{n} PUTs of {size} B: {:.3} CPU-s, {:.3} ms CPU per PUT, {:.2} s wall",
            cpu,
            cpu * 1000.0 / n as f64,
            wall.elapsed().as_secs_f64()
        );
    });
}
