//! A broadcast is live only once viewers can watch: `went_live_at` records when its video
//! first existed (null: it never produced any), `failure` why viewers could not watch.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261201_000004_broadcast_video"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Broadcasts {
    Table,
    StartedAt,
    WentLiveAt,
    Failure,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Broadcasts::Table)
                    .add_column(
                        ColumnDef::new(Broadcasts::WentLiveAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Broadcasts::Table)
                    .add_column(ColumnDef::new(Broadcasts::Failure).text().null())
                    .to_owned(),
            )
            .await?;
        // Broadcasts from before were announced when they started.
        let update = Query::update()
            .table(Broadcasts::Table)
            .value(Broadcasts::WentLiveAt, Expr::col(Broadcasts::StartedAt))
            .to_owned();
        manager.exec_stmt(update).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Broadcasts::Failure, Broadcasts::WentLiveAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Broadcasts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
