//! Creates a table exactly as `template.yaml` declares it, so local and test tables match AWS.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_dynamodb::Client;
use serde::Deserialize;

/// The template does not declare exactly one usable table.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The file is not YAML.
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    /// Zero or several `AWS::DynamoDB::Table` resources.
    #[error("template must declare exactly one AWS::DynamoDB::Table, found {0}")]
    TableCount(usize),
    /// The SDK refused a value from the template.
    #[error("template's table declaration is incomplete: {0}")]
    Incomplete(String),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TableProperties {
    attribute_definitions: Vec<AttributeDef>,
    key_schema: Vec<KeyElement>,
    #[serde(default)]
    global_secondary_indexes: Vec<IndexDef>,
    #[serde(default)]
    stream_specification: Option<StreamDef>,
}

/// The table's stream, which the event publisher reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StreamDef {
    stream_view_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDef {
    attribute_name: String,
    attribute_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyElement {
    attribute_name: String,
    key_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IndexDef {
    index_name: String,
    key_schema: Vec<KeyElement>,
    projection: ProjectionDef,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProjectionDef {
    projection_type: String,
    #[serde(default)]
    non_key_attributes: Vec<String>,
}

/// The key schema and indexes of the template's one table.
#[derive(Debug)]
pub struct TableDeclaration(TableProperties);

impl TableDeclaration {
    /// Finds the one `AWS::DynamoDB::Table` in a SAM/CloudFormation template.
    pub fn from_template(yaml: &str) -> Result<Self, TemplateError> {
        let doc: serde_yaml::Value = serde_yaml::from_str(yaml)?;
        let tables: Vec<&serde_yaml::Value> = doc
            .get("Resources")
            .and_then(serde_yaml::Value::as_mapping)
            .into_iter()
            .flat_map(|resources| resources.values())
            .filter(|r| {
                r.get("Type").and_then(serde_yaml::Value::as_str) == Some("AWS::DynamoDB::Table")
            })
            .collect();
        match tables.as_slice() {
            [table] => {
                let properties = table.get("Properties").cloned().unwrap_or_default();
                Ok(Self(serde_yaml::from_value(properties)?))
            }
            other => Err(TemplateError::TableCount(other.len())),
        }
    }

    /// The same table without its stream: for local servers where a stream costs more than it
    /// gives (moto copies the whole table, stream records included, on every transaction).
    pub fn without_stream(mut self) -> Self {
        self.0.stream_specification = None;
        self
    }

    /// Names of the declared global secondary indexes.
    pub fn index_names(&self) -> Vec<&str> {
        self.0
            .global_secondary_indexes
            .iter()
            .map(|i| i.index_name.as_str())
            .collect()
    }

    /// Creates `table` as declared: on-demand billing, its indexes and its stream.
    pub async fn create(&self, client: &Client, table: &str) -> Result<(), CreateTableError> {
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest);
        for def in &self.0.attribute_definitions {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&def.attribute_name)
                    .attribute_type(ScalarAttributeType::from(def.attribute_type.as_str()))
                    .build()
                    .map_err(|e| TemplateError::Incomplete(e.to_string()))?,
            );
        }
        for key in key_schema(&self.0.key_schema)? {
            request = request.key_schema(key);
        }
        for index in &self.0.global_secondary_indexes {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(
                    index.projection.projection_type.as_str(),
                ))
                .set_non_key_attributes(
                    Some(index.projection.non_key_attributes.clone()).filter(|a| !a.is_empty()),
                )
                .build();
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.index_name)
                    .set_key_schema(Some(key_schema(&index.key_schema)?))
                    .projection(projection)
                    .build()
                    .map_err(|e| TemplateError::Incomplete(e.to_string()))?,
            );
        }
        if let Some(stream) = &self.0.stream_specification {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(stream.stream_view_type.as_str()))
                    .build()
                    .map_err(|e| TemplateError::Incomplete(e.to_string()))?,
            );
        }
        request.send().await.map_err(|e| {
            CreateTableError::Request(aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())
        })?;
        Ok(())
    }
}

fn key_schema(keys: &[KeyElement]) -> Result<Vec<KeySchemaElement>, TemplateError> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| TemplateError::Incomplete(e.to_string()))
        })
        .collect()
}

/// The table could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateTableError {
    /// The declaration is unusable.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// DynamoDB refused the request.
    #[error("CreateTable failed: {0}")]
    Request(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_template() {
        let yaml =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
                .unwrap();
        let table = TableDeclaration::from_template(&yaml).unwrap();
        assert_eq!(table.index_names(), ["gsi1", "gsi2"]);
        assert_eq!(table.0.key_schema.len(), 2);
        let stream = table
            .0
            .stream_specification
            .as_ref()
            .map(|s| s.stream_view_type.as_str());
        assert_eq!(
            stream,
            Some("NEW_AND_OLD_IMAGES"),
            "the event publisher needs both images"
        );
    }

    #[test]
    fn needs_exactly_one_table() {
        let none = "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n";
        assert!(matches!(
            TableDeclaration::from_template(none),
            Err(TemplateError::TableCount(0))
        ));
        assert!(matches!(
            TableDeclaration::from_template(": : :"),
            Err(TemplateError::Yaml(_))
        ));
    }
}
