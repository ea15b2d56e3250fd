//! Several nodes share one database: each open broadcast names the node whose ingest holds it
//! (`owner_node`, the node's `cluster.node_id`), so a node starting up closes only what it left
//! open itself, and a node that died has its broadcasts closed by another one, once.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261205_000006_broadcast_owner"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Broadcasts {
    Table,
    OwnerNode,
    EndedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Broadcasts::Table)
                    .add_column(ColumnDef::new(Broadcasts::OwnerNode).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        // Every node's sweep lists the open broadcasts.
        manager
            .create_index(
                Index::create()
                    .name("idx_broadcasts_open")
                    .table(Broadcasts::Table)
                    .col(Broadcasts::EndedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_broadcasts_open")
                    .table(Broadcasts::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Broadcasts::Table)
                    .drop_column(Broadcasts::OwnerNode)
                    .to_owned(),
            )
            .await
    }
}
