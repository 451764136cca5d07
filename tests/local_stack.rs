//! The local stack creates exactly the tables that template.yaml defines.

use std::collections::BTreeSet;

use integration_tests::*;
use local_stack::tables::{table_name, template_tables};

#[tokio::test]
async fn the_tables_created_locally_equal_the_templates() {
    let env = TestEnv::new().await;
    let definitions = template_tables().unwrap();
    let logical: BTreeSet<&str> = definitions.iter().map(|t| t.logical_id.as_str()).collect();
    assert_eq!(
        logical,
        BTreeSet::from([
            "RatingsTable",
            "FailedUploadsTable",
            "SyncStateTable",
            "AuditTable"
        ])
    );

    for definition in &definitions {
        let name = table_name(&definition.logical_id, &env.tables).unwrap();
        let described = env
            .client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap();
        let table = described.table().unwrap();
        let keys: Vec<(String, String)> = table
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(keys, definition.key_schema, "{name}");
        let attributes: BTreeSet<(String, String)> = table
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            attributes,
            definition.attributes.iter().cloned().collect(),
            "{name}"
        );
        let indexes: Vec<(String, Vec<(String, String)>)> = table
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                (
                    g.index_name().unwrap_or_default().to_owned(),
                    g.key_schema()
                        .iter()
                        .map(|k| {
                            (
                                k.attribute_name().to_owned(),
                                k.key_type().as_str().to_owned(),
                            )
                        })
                        .collect(),
                )
            })
            .collect();
        let expected: Vec<(String, Vec<(String, String)>)> = definition
            .indexes
            .iter()
            .map(|i| (i.name.clone(), i.key_schema.clone()))
            .collect();
        assert_eq!(indexes, expected, "{name}");

        // The fast path's trigger: the ratings table's stream, with the
        // images the stream function reads.
        let stream = table
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type())
            .map(|v| v.as_str().to_owned());
        assert_eq!(stream, definition.stream_view_type, "{name}");

        let ttl = env
            .client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap();
        let ttl_attribute = ttl
            .time_to_live_description()
            .and_then(|d| d.attribute_name())
            .map(str::to_owned);
        assert_eq!(ttl_attribute, definition.ttl_attribute, "{name}");
    }
}

#[test]
fn the_backlog_index_the_code_queries_is_the_one_the_template_defines() {
    let ratings = template_tables()
        .unwrap()
        .into_iter()
        .find(|t| t.logical_id == "RatingsTable")
        .unwrap();
    let index = ratings
        .indexes
        .iter()
        .find(|i| i.name == shared::store::PENDING_INDEX)
        .expect("the index exists in template.yaml");
    assert_eq!(
        index.key_schema,
        [
            ("synced_to_saas".to_owned(), "HASH".to_owned()),
            ("updated_at".to_owned(), "RANGE".to_owned())
        ]
    );
    assert_eq!(
        index.projection, "ALL",
        "the backlog query reads whole ratings"
    );
}

#[test]
fn every_function_in_the_template_is_a_binary_crate_and_the_other_way_round() {
    use local_stack::tables::template_functions;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let crates: BTreeSet<String> = std::fs::read_dir(root.join("functions"))
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("Cargo.toml").exists())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    let functions = template_functions().unwrap();
    let binaries: BTreeSet<String> = functions.iter().map(|(_, binary)| binary.clone()).collect();
    assert!(!functions.is_empty());
    for (id, binary) in &functions {
        assert!(
            !binary.is_empty(),
            "{id} names no binary (Metadata.BuildProperties.Binary)"
        );
    }
    assert_eq!(
        binaries.len(),
        functions.len(),
        "two functions run the same binary"
    );
    assert_eq!(
        binaries, crates,
        "template functions vs crates under functions/"
    );
    // Each crate's package (and so its binary) is named after its folder.
    for name in &crates {
        let manifest =
            std::fs::read_to_string(root.join("functions").join(name).join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "functions/{name}/Cargo.toml"
        );
    }
}
