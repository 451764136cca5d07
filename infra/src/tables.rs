//! Tables created from their definitions in `template.yaml`.
//!
//! The template is the single source of truth; this module reads the
//! `AWS::DynamoDB::Table` resources out of it (written in long form,
//! `Ref:`/`Fn::Sub:`, so any YAML parser reads it) and creates the same
//! tables under the names the caller chooses.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use shared::config::TableNames;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{dynamodb_error, StackError};

/// One table as the template defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub logical_id: String,
    /// (name, type) of each attribute used in a key.
    pub attributes: Vec<(String, String)>,
    /// (name, HASH or RANGE)
    pub key_schema: Vec<(String, String)>,
    pub indexes: Vec<IndexDefinition>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection: String,
}

pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// The template's tables, read from the file.
pub fn template_tables() -> Result<Vec<TableDefinition>, StackError> {
    let path = template_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("cannot read {}: {e}", path.display())))?;
    parse_tables(&text)
}

/// The `AWS::DynamoDB::Table` resources of a template.
pub fn parse_tables(template: &str) -> Result<Vec<TableDefinition>, StackError> {
    let docs =
        YamlLoader::load_from_str(template).map_err(|e| StackError::Template(e.to_string()))?;
    let resources = docs
        .first()
        .and_then(|doc| doc["Resources"].as_hash())
        .ok_or_else(|| StackError::Template("no Resources".into()))?;
    let mut tables = Vec::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let logical_id = id.as_str().unwrap_or_default().to_owned();
        let props = &resource["Properties"];
        let pairs = |list: &Yaml, a: &str, b: &str| -> Vec<(String, String)> {
            list.as_vec()
                .map(|items| {
                    items
                        .iter()
                        .map(|x| {
                            (
                                x[a].as_str().unwrap_or_default().to_owned(),
                                x[b].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let indexes = props["GlobalSecondaryIndexes"]
            .as_vec()
            .map(|list| {
                list.iter()
                    .map(|gsi| IndexDefinition {
                        name: gsi["IndexName"].as_str().unwrap_or_default().to_owned(),
                        key_schema: pairs(&gsi["KeySchema"], "AttributeName", "KeyType"),
                        projection: gsi["Projection"]["ProjectionType"]
                            .as_str()
                            .unwrap_or("ALL")
                            .to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let ttl = &props["TimeToLiveSpecification"];
        tables.push(TableDefinition {
            attributes: pairs(
                &props["AttributeDefinitions"],
                "AttributeName",
                "AttributeType",
            ),
            key_schema: pairs(&props["KeySchema"], "AttributeName", "KeyType"),
            indexes,
            ttl_attribute: (ttl["Enabled"].as_bool() == Some(true))
                .then(|| ttl["AttributeName"].as_str().map(str::to_owned))
                .flatten(),
            logical_id,
        });
    }
    Ok(tables)
}

/// The Lambda functions of the template: (logical id, the binary it runs).
pub fn template_functions() -> Result<Vec<(String, String)>, StackError> {
    let path = template_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|e| StackError::Template(format!("cannot read {}: {e}", path.display())))?;
    let docs = YamlLoader::load_from_str(&text).map_err(|e| StackError::Template(e.to_string()))?;
    let resources = docs
        .first()
        .and_then(|doc| doc["Resources"].as_hash())
        .ok_or_else(|| StackError::Template("no Resources".into()))?;
    Ok(resources
        .iter()
        .filter(|(_, resource)| resource["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, resource)| {
            (
                id.as_str().unwrap_or_default().to_owned(),
                resource["Metadata"]["BuildProperties"]["Binary"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect())
}

/// Which configured name stands for which template resource.
pub fn table_name<'a>(logical_id: &str, names: &'a TableNames) -> Option<&'a str> {
    match logical_id {
        "RatingsTable" => Some(&names.ratings),
        "FailedUploadsTable" => Some(&names.failed_uploads),
        "SyncStateTable" => Some(&names.sync_state),
        "AuditTable" => Some(&names.audit),
        _ => None,
    }
}

/// Creates every template table under `names`; an existing table is left as it is.
pub async fn create_tables(client: &Client, names: &TableNames) -> Result<(), StackError> {
    for table in template_tables()? {
        let name = table_name(&table.logical_id, names).ok_or_else(|| {
            StackError::Template(format!("no configured name for table {}", table.logical_id))
        })?;
        create_table(client, name, &table).await?;
    }
    Ok(())
}

fn key_element(name: &str, kind: &str) -> Result<KeySchemaElement, StackError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(KeyType::from(kind))
        .build()
        .map_err(dynamodb_error)
}

async fn create_table(
    client: &Client,
    name: &str,
    table: &TableDefinition,
) -> Result<(), StackError> {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (attribute, kind) in &table.attributes {
        request = request.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(dynamodb_error)?,
        );
    }
    for (attribute, kind) in &table.key_schema {
        request = request.key_schema(key_element(attribute, kind)?);
    }
    for index in &table.indexes {
        let mut gsi = GlobalSecondaryIndex::builder()
            .index_name(&index.name)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::from(index.projection.as_str()))
                    .build(),
            );
        for (attribute, kind) in &index.key_schema {
            gsi = gsi.key_schema(key_element(attribute, kind)?);
        }
        request = request.global_secondary_indexes(gsi.build().map_err(dynamodb_error)?);
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(())
        }
        Err(err) => return Err(dynamodb_error(err)),
    }
    wait_until_active(client, name).await?;
    if let Some(attribute) = &table.ttl_attribute {
        let ttl = client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(attribute)
                    .enabled(true)
                    .build()
                    .map_err(dynamodb_error)?,
            )
            .send()
            .await;
        match ttl {
            Ok(_) => {}
            // dynalite (used by the benchmark for its speed) has no TTL API;
            // TTL only deletes old items, nothing the sync relies on.
            Err(err) if err.code() == Some("UnknownOperationException") => {
                eprintln!(
                    "local-stack: this DynamoDB server has no TTL API; {name} keeps old items"
                );
            }
            Err(err) => return Err(dynamodb_error(err)),
        }
    }
    Ok(())
}

async fn wait_until_active(client: &Client, name: &str) -> Result<(), StackError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(dynamodb_error)?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(StackError::DynamoDb(format!(
                "table {name} did not become active"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Deletes the tables (tests clean up after themselves).
pub async fn delete_tables(client: &Client, names: &TableNames) {
    for name in [&names.ratings, &names.failed_uploads, &names.sync_state] {
        let _ = client.delete_table().table_name(name).send().await;
    }
}
