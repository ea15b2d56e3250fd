//! Taking a video or a clip down (a moderation decision or a DMCA notice) hides it without
//! deleting it, so it can be restored. On `videos` and on `clips`:
//! - `taken_down_at`: when; null while the item is up;
//! - `takedown_notice`: the public sentence shown in its place (e.g. "Taken down after DMCA
//!   notice 7"), never the complaint itself;
//! - `takedown_ref`: what decided it, `report:{id}` or `dmca:{id}`, so the case can restore it.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000011_takedowns"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Videos {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Clips {
    Table,
}

#[derive(DeriveIden, Clone, Copy)]
enum Col {
    TakenDownAt,
    TakedownNotice,
    TakedownRef,
}

fn column(col: Col) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match col {
        Col::TakenDownAt => def.timestamp_with_time_zone().null(),
        Col::TakedownNotice => def.string_len(500).null(),
        Col::TakedownRef => def.string_len(64).null(),
    };
    def
}

const COLUMNS: [Col; 3] = [Col::TakenDownAt, Col::TakedownNotice, Col::TakedownRef];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for table in [Videos::Table.into_iden(), Clips::Table.into_iden()] {
            for col in COLUMNS {
                manager
                    .alter_table(
                        Table::alter()
                            .table(table.clone())
                            .add_column(column(col))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [Videos::Table.into_iden(), Clips::Table.into_iden()] {
            for col in COLUMNS {
                manager
                    .alter_table(
                        Table::alter()
                            .table(table.clone())
                            .drop_column(col)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }
}
