//! `postgres.schema`: a schema in one database, with its owner.

use std::collections::BTreeMap;

use async_trait::async_trait;
use obp_engine::pg::quote_ident;
use obp_engine::provider::{AttrType, ProviderError, Recorded, ResourceSchema};
use serde_json::{json, Value as Json};

use super::client::{create_new, remote, run, Server};
use super::sql::{errors, name, role_name};
use super::{attr, in_database, recorded, refreshed, ResourceType};
use crate::attrs::{invalid, overlay, shown, Inputs};

pub(super) struct Schema;

#[async_trait]
impl ResourceType for Schema {
    fn rtype(&self) -> &'static str {
        "postgres.schema"
    }

    fn schema(&self) -> ResourceSchema {
        ResourceSchema {
            rtype: self.rtype().to_owned(),
            attributes: vec![
                attr("database", AttrType::String).required().force_new(),
                attr("name", AttrType::String).required().force_new(),
                attr("owner", AttrType::String),
            ],
            open: false,
            replace_on: Vec::new(),
            list_keys: Vec::new(),
            doc: "a schema in one database",
        }
    }

    fn check(&self, i: Inputs<'_>, _prior: bool) -> Vec<ProviderError> {
        let mut results = vec![
            name(i, "database", "database"),
            name(i, "name", "schema"),
            role_name(i, "owner"),
        ];
        if let Ok(Some(schema)) = i.str_opt("name") {
            if i.known("name") && (schema.starts_with("pg_") || schema == "information_schema") {
                results.push(Err(invalid(
                    "name",
                    format!("schema name {} is reserved by PostgreSQL", shown(schema)),
                )));
            }
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
        let mut statement = format!("CREATE SCHEMA {}", quote_ident(name));
        if let Some(owner) = i.str_opt("owner")? {
            statement.push_str(&format!(" AUTHORIZATION {}", quote_ident(owner)));
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
        if let Some(owner) = i.str_opt("owner")? {
            run(
                &client,
                &target,
                &format!(
                    "ALTER SCHEMA {} OWNER TO {}",
                    quote_ident(i.str_req("name")?),
                    quote_ident(owner)
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
            &format!("DROP SCHEMA IF EXISTS {}", quote_ident(i.str_req("name")?)),
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
                "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = $1",
                &[&i.str_req("name")?],
            )
            .await
            .map_err(|e| remote(&target, "reading pg_namespace", &e))?
        else {
            return Ok(None);
        };
        let mut inputs = prior.inputs.clone();
        overlay(
            &mut inputs,
            "owner",
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
