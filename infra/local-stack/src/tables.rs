//! Tables created from their definitions in `template.yaml`.
//!
//! The template is the single source of truth; this module reads the
//! `AWS::DynamoDB::Table` resources out of it (written in long form,
//! `Ref:`/`Fn::Sub:`, so any YAML parser reads it) and creates the same
//! tables under the names the caller chooses.
//!
//! A table's `StreamSpecification` may be conditional (the ratings table has
//! a stream only with `EnableFastPath`): written as `Fn::If`, the branch
//! that defines a stream wins, so the local table always has the stream the
//! deployed one can have.

use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus,
    TimeToLiveSpecification,
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
    /// The stream's view type (`NEW_AND_OLD_IMAGES`, ...) when the table
    /// has a stream, or may have one.
    pub stream_view_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection: String,
}

pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
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
        let stream_view_type = stream_view_type(&logical_id, &props["StreamSpecification"])?;
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
            stream_view_type,
            logical_id,
        });
    }
    Ok(tables)
}

/// The view type of a table's `StreamSpecification`: absent, a plain
/// specification, or `Fn::If: [condition, spec, AWS::NoValue]` (either
/// branch may be the specification; the true branch is taken first). A
/// specification without a view type is an error, not a table without a
/// stream.
fn stream_view_type(table: &str, spec: &Yaml) -> Result<Option<String>, StackError> {
    if spec.is_badvalue() {
        return Ok(None);
    }
    let candidates: Vec<&Yaml> = match spec["Fn::If"].as_vec() {
        Some(branches) => branches.iter().skip(1).collect(),
        None => vec![spec],
    };
    candidates
        .into_iter()
        .find_map(|branch| branch["StreamViewType"].as_str())
        .map(|view| Some(view.to_owned()))
        .ok_or_else(|| {
            StackError::Template(format!(
                "{table}: StreamSpecification without a StreamViewType"
            ))
        })
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

/// Creates one table as the template defines it, waits until it is active
/// and turns its TTL on; a table that exists is left as it is.
async fn create_table(
    client: &Client,
    name: &str,
    table: &TableDefinition,
) -> Result<(), StackError> {
    let request = create_table_request(client, name, table)?;
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
        enable_ttl(client, name, attribute).await?;
    }
    Ok(())
}

/// The CreateTable request of `table` under `name`: its attributes, keys,
/// indexes and stream, billed per request.
fn create_table_request(
    client: &Client,
    name: &str,
    table: &TableDefinition,
) -> Result<CreateTableFluentBuilder, StackError> {
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
        request = request.global_secondary_indexes(global_secondary_index(index)?);
    }
    if let Some(view) = &table.stream_view_type {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
                .map_err(dynamodb_error)?,
        );
    }
    Ok(request)
}

fn global_secondary_index(index: &IndexDefinition) -> Result<GlobalSecondaryIndex, StackError> {
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
    gsi.build().map_err(dynamodb_error)
}

/// Turns on the table's TTL on `attribute`.
async fn enable_ttl(client: &Client, name: &str, attribute: &str) -> Result<(), StackError> {
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
        Ok(_) => Ok(()),
        // dynalite (used by the benchmark for its speed) has no TTL API;
        // TTL only deletes old items, nothing the sync relies on.
        Err(err) if err.code() == Some("UnknownOperationException") => {
            eprintln!("local-stack: this DynamoDB server has no TTL API; {name} keeps old items");
            Ok(())
        }
        Err(err) => Err(dynamodb_error(err)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(stream_specification: &str) -> String {
        format!(
            "Resources:
  Ratings:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - AttributeName: id
          AttributeType: S
      KeySchema:
        - AttributeName: id
          KeyType: HASH
{stream_specification}"
        )
    }

    fn view_type(template: &str) -> Result<Option<String>, StackError> {
        let tables = parse_tables(template)?;
        assert_eq!(tables.len(), 1);
        Ok(tables[0].stream_view_type.clone())
    }

    #[test]
    fn a_table_without_a_stream_specification_has_no_stream() {
        assert_eq!(view_type(&table("")).unwrap(), None);
    }

    #[test]
    fn a_plain_stream_specification_gives_its_view_type() {
        let spec = "      StreamSpecification:
        StreamViewType: KEYS_ONLY
";
        assert_eq!(
            view_type(&table(spec)).unwrap().as_deref(),
            Some("KEYS_ONLY")
        );
    }

    #[test]
    fn a_conditional_stream_specification_gives_the_branch_that_defines_one() {
        let true_branch = "      StreamSpecification:
        Fn::If:
          - FastPathEnabled
          - StreamViewType: NEW_AND_OLD_IMAGES
          - Ref: AWS::NoValue
";
        assert_eq!(
            view_type(&table(true_branch)).unwrap().as_deref(),
            Some("NEW_AND_OLD_IMAGES")
        );
        let false_branch = "      StreamSpecification:
        Fn::If:
          - StreamOff
          - Ref: AWS::NoValue
          - StreamViewType: NEW_IMAGE
";
        assert_eq!(
            view_type(&table(false_branch)).unwrap().as_deref(),
            Some("NEW_IMAGE")
        );
    }

    #[test]
    fn a_stream_specification_without_a_view_type_is_refused() {
        let spec = "      StreamSpecification:
        Fn::If:
          - FastPathEnabled
          - Ref: AWS::NoValue
          - Ref: AWS::NoValue
";
        let err = view_type(&table(spec)).unwrap_err();
        assert!(err.to_string().contains("Ratings"), "{err}");
    }

    #[test]
    fn only_the_ratings_table_of_the_template_has_a_stream_with_both_images() {
        let streams: Vec<(String, Option<String>)> = template_tables()
            .unwrap()
            .into_iter()
            .map(|t| (t.logical_id, t.stream_view_type))
            .collect();
        assert_eq!(
            streams,
            [
                (
                    "RatingsTable".to_owned(),
                    Some("NEW_AND_OLD_IMAGES".to_owned())
                ),
                ("FailedUploadsTable".to_owned(), None),
                ("SyncStateTable".to_owned(), None),
                ("AuditTable".to_owned(), None),
            ]
        );
    }
}
