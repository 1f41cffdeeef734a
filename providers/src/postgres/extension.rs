//! `postgres.extension`: an extension (unaccent, pg_trgm …) created in one database, in the
//! schema the blueprint names or the database's default one.

use std::collections::BTreeMap;

use async_trait::async_trait;
use obp_engine::pg::quote_ident;
use obp_engine::provider::{AttrType, ProviderError, Recorded, ResourceSchema};
use serde_json::{json, Value as Json};

use super::client::{create_new, remote, run, Server};
use super::sql::{errors, name, text_value, MAX_NAME};
use super::{attr, in_database, recorded, refreshed, ResourceType};
use crate::attrs::{overlay, Inputs};

pub(super) struct Extension;

#[async_trait]
impl ResourceType for Extension {
    fn rtype(&self) -> &'static str {
        "postgres.extension"
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            rtype: self.rtype().to_owned(),
            attributes: vec![
                attr("database", AttrType::String).required().force_new(),
                attr("name", AttrType::String)
                    .required()
                    .force_new()
                    .doc("unaccent, pg_trgm …"),
                attr("schema", AttrType::String).doc(
                    "schema to create it in (default: the database's first schema in search_path)",
                ),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "an extension created in one database",
        }
    }

    fn check(&self, i: Inputs<'_>, _prior: bool) -> Vec<ProviderError> {
        let mut results = vec![name(i, "database", "database"), name(i, "schema", "schema")];
        if i.known("name") {
            results.push(match i.str_opt("name") {
                Ok(Some(ext)) => text_value("name", ext, MAX_NAME, |c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                }),
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            });
        }
        errors(results)
    }

    async fn create(
        &self,
        server: &Server,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let i = Inputs(inputs);
        let database = i.str_req("database")?;
        let (client, target) = server.connect_existing(database).await?;
        let name = i.str_req("name")?;
        let mut statement = format!("CREATE EXTENSION {}", quote_ident(name));
        if let Some(schema) = i.str_opt("schema")? {
            statement.push_str(&format!(" SCHEMA {}", quote_ident(schema)));
        }
        create_new(&client, &target, &statement, &format!("{database}/{name}")).await?;
        Ok(recorded(inputs))
    }

    async fn update(
        &self,
        server: &Server,
        _prior: &Recorded,
        inputs: &BTreeMap<String, Json>,
    ) -> Result<Recorded, ProviderError> {
        let i = Inputs(inputs);
        let (client, target) = server.connect_existing(i.str_req("database")?).await?;
        if let Some(schema) = i.str_opt("schema")? {
            run(
                &client,
                &target,
                &format!(
                    "ALTER EXTENSION {} SET SCHEMA {}",
                    quote_ident(i.str_req("name")?),
                    quote_ident(schema)
                ),
            )
            .await?;
        }
        Ok(recorded(inputs))
    }

    async fn delete(&self, server: &Server, prior: &Recorded) -> Result<(), ProviderError> {
        let i = Inputs(&prior.inputs);
        let Some((client, target)) = server.connect_to(i.str_req("database")?).await? else {
            return Ok(());
        };
        run(
            &client,
            &target,
            &format!(
                "DROP EXTENSION IF EXISTS {}",
                quote_ident(i.str_req("name")?)
            ),
        )
        .await
    }

    async fn read(
        &self,
        server: &Server,
        prior: &Recorded,
    ) -> Result<Option<Recorded>, ProviderError> {
        let i = Inputs(&prior.inputs);
        let Some((client, target)) = server.connect_to(i.str_req("database")?).await? else {
            return Ok(None);
        };
        let Some(row) = client
            .query_opt(
                "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                 WHERE e.extname = $1",
                &[&i.str_req("name")?],
            )
            .await
            .map_err(|e| remote(&target, "reading pg_extension", &e))?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        overlay(
            &mut inputs,
            "schema",
            json!(row.get::<_, String>(0)),
            None,
            |a, b| a == b,
        );
        Ok(Some(refreshed(inputs, prior)))
    }

    fn import_inputs(&self, id: &[&str]) -> Option<BTreeMap<String, Json>> {
        in_database(id)
    }
}
