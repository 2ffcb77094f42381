//! The core's contract, one body per behaviour, run on the memory repo and on the sled repo:
//! whatever the faces do through the core behaves the same over either store.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use chorus_node::NodeMetrics;
use chorus_node::core::{Adder, Core, CoreBuilder, PinFilter, RemoveError};
use chorus_protocol::car::export_car;
use chorus_protocol::unixfs::{ImportOptions, StoreSource, import_bytes};
use chorus_storage::{Blockstore, Cid, MemoryRepo, PinMode, Repo, SledStore};
use futures::StreamExt;
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

/// A core over `repo`, and its registry (for the gauges the core keeps).
fn core_over(repo: impl Repo) -> (Core, Registry) {
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    (CoreBuilder::new(repo, metrics).unwrap().build(), registry)
}

/// Runs `body` on a core over a memory repo, then over a sled repo in a temporary directory.
async fn on_both_repos<F, Fut>(body: F)
where
    F: Fn(Core, Registry) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (core, registry) = core_over(MemoryRepo::new());
    body(core, registry).await;
    let dir = tempfile::tempdir().unwrap();
    let (core, registry) = core_over(SledStore::open(dir.path()).unwrap());
    body(core, registry).await;
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn opts() -> ImportOptions {
    ImportOptions::default()
        .with_cid_version(1)
        .with_chunk_size(1024)
}

/// Adds `bytes` as one file through the core's `Adder` (pinned); returns its root.
async fn add(core: &Core, bytes: &[u8]) -> Cid {
    let mut adder = Adder::new(core, opts(), false).unwrap();
    let mut file = adder.file("").unwrap();
    file.push(bytes).await.unwrap();
    file.finish().await.unwrap();
    let outcome = adder.finish(false, true).await.unwrap();
    outcome.roots[0].cid
}

/// The value of `chorus_pins{type=kind}` as the registry renders it.
fn pin_gauge(registry: &Registry, kind: &str) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    let prefix = format!("chorus_pins{{type=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or("absent")
        .to_owned()
}

#[tokio::test]
async fn an_add_is_stored_pinned_and_counted() {
    on_both_repos(|core, registry| async move {
        let bytes = data(10_000, 1);
        let root = add(&core, &bytes).await;
        // The same CID the importer computes offline, every block readable, the root pinned.
        let (summary, blocks) = import_bytes(&opts(), &bytes).unwrap();
        assert_eq!(root, summary.root);
        for b in &blocks {
            assert!(core.store().has(b.cid().hash()).unwrap());
        }
        assert_eq!(
            core.repo().pins().get(&root).unwrap(),
            Some(PinMode::Recursive)
        );
        assert_eq!(pin_gauge(&registry, "recursive"), "1");
        let listed = core.pins(PinFilter::All, Vec::new()).await.unwrap();
        assert!(listed.contains(&(root, "recursive".to_owned())));
    })
    .await;
}

#[tokio::test]
async fn unpinned_content_is_collected_and_pinned_content_kept() {
    on_both_repos(|core, registry| async move {
        let kept = add(&core, &data(5_000, 2)).await;
        let dropped = add(&core, &data(5_000, 3)).await;
        assert_eq!(pin_gauge(&registry, "recursive"), "2");
        core.unpin(vec![dropped], true).await.unwrap();
        assert_eq!(pin_gauge(&registry, "recursive"), "1");
        let report = core.gc().await.unwrap();
        assert!(!report.removed.is_empty());
        assert!(!core.store().has(dropped.hash()).unwrap());
        assert!(core.store().has(kept.hash()).unwrap());
        let (lines, ok) = core.verify().await.unwrap();
        assert!(ok, "{lines:?}");
        // Unpinning what is not pinned fails and changes nothing.
        assert!(core.unpin(vec![dropped], true).await.is_err());
        assert_eq!(pin_gauge(&registry, "recursive"), "1");
    })
    .await;
}

#[tokio::test]
async fn a_car_export_imports_back_with_its_root_pinned() {
    on_both_repos(|core, _registry| async move {
        let bytes = data(20_000, 4);
        let root = add(&core, &bytes).await;
        let car: Vec<Bytes> = export_car(StoreSource::new(core.store()), root)
            .map(|c| c.unwrap())
            .collect()
            .await;
        core.unpin(vec![root], true).await.unwrap();
        core.gc().await.unwrap();
        assert!(!core.store().has(root.hash()).unwrap());

        let mut import = core.car_importer();
        import
            .car(futures::stream::iter(
                car.into_iter().map(Ok::<_, std::io::Error>),
            ))
            .await
            .unwrap();
        let imported = import.finish(true).await.unwrap();
        assert_eq!(imported.roots.len(), 1);
        assert_eq!(imported.roots[0].cid, root);
        assert!(imported.roots[0].pin_error.is_none());
        assert_eq!(
            core.repo().pins().get(&root).unwrap(),
            Some(PinMode::Recursive)
        );
        assert!(core.gc().await.unwrap().removed.is_empty());
    })
    .await;
}

#[tokio::test]
async fn pinned_blocks_are_not_removed_and_direct_pins_keep_one_block() {
    on_both_repos(|core, _registry| async move {
        let root = add(&core, &data(4_000, 5)).await;
        let (_, blocks) = import_bytes(&opts(), &data(4_000, 5)).unwrap();
        let leaf = *blocks[0].cid();
        let out = core.remove_blocks(vec![root, leaf]).await.unwrap();
        assert!(matches!(
            out[0].1,
            Err(RemoveError::Pinned(PinMode::Recursive))
        ));
        assert!(matches!(out[1].1, Err(RemoveError::PinnedIndirectly(r)) if r == root));

        // A direct pin keeps its block and nothing below it.
        let (summary, loose) = import_bytes(&opts(), &data(3_000, 6)).unwrap();
        assert!(loose.len() > 1);
        core.put_blocks(loose.clone(), None).await.unwrap();
        core.unpin(vec![root], true).await.unwrap();
        let visited = AtomicU64::new(0);
        core.pin(&[summary.root], false, &visited).await.unwrap();
        core.gc().await.unwrap();
        for b in &loose {
            let kept = core.store().has(b.cid().hash()).unwrap();
            assert_eq!(kept, *b.cid() == summary.root, "{}", b.cid());
        }
        assert!(!core.store().has(root.hash()).unwrap());
    })
    .await;
}

#[tokio::test]
async fn repo_stat_counts_what_the_store_holds() {
    on_both_repos(|core, _registry| async move {
        let empty = core.repo_stat(std::path::Path::new("/r"), 7).await.unwrap();
        assert_eq!((empty.num_objects, empty.repo_size), (0, 0));
        let bytes = data(3_000, 7);
        add(&core, &bytes).await;
        let (_, mut blocks) = import_bytes(&opts(), &bytes).unwrap();
        // Repeated chunks are one block.
        blocks.sort_by_key(|b| *b.cid());
        blocks.dedup_by_key(|b| *b.cid());
        let stat = core.repo_stat(std::path::Path::new("/r"), 7).await.unwrap();
        assert_eq!(stat.num_objects, blocks.len() as u64);
        assert_eq!(
            stat.repo_size,
            blocks.iter().map(|b| b.len() as u64).sum::<u64>()
        );
        assert_eq!(stat.storage_max, 7);
        let repo: Arc<dyn Blockstore> = core.store();
        assert_eq!(repo.stat().unwrap().blocks, blocks.len() as u64);
    })
    .await;
}
