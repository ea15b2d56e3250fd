//! Trust and safety: the audit log of every admin and moderator action, and account
//! suspensions (a user suspended until a time, or permanently, with a reason).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261206_000008_trust_safety"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    SuspendedAt,
    SuspendedUntil,
    SuspensionReason,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    At,
    ActorId,
    ActorName,
    Action,
    TargetKind,
    TargetId,
    Reason,
    Detail,
}

fn add_to_users(column: &mut ColumnDef) -> TableAlterStatement {
    Table::alter()
        .table(Users::Table)
        .add_column(column)
        .to_owned()
}

fn index(name: &str, cols: &[AuditLog]) -> IndexCreateStatement {
    let mut idx = Index::create();
    idx.name(name).table(AuditLog::Table);
    for col in cols {
        idx.col(*col);
    }
    idx.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for stmt in [
            add_to_users(
                ColumnDef::new(Users::SuspendedAt)
                    .timestamp_with_time_zone()
                    .null(),
            ),
            add_to_users(
                ColumnDef::new(Users::SuspendedUntil)
                    .timestamp_with_time_zone()
                    .null(),
            ),
            add_to_users(ColumnDef::new(Users::SuspensionReason).text().null()),
        ] {
            manager.alter_table(stmt).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(
                        ColumnDef::new(AuditLog::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuditLog::At)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditLog::ActorId).big_integer().null())
                    .col(ColumnDef::new(AuditLog::ActorName).string_len(32).null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(48).not_null())
                    .col(
                        ColumnDef::new(AuditLog::TargetKind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AuditLog::TargetId).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Reason).text().null())
                    .col(ColumnDef::new(AuditLog::Detail).text().not_null())
                    // The log outlives the accounts in it: a deleted actor leaves their name.
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditLog::Table, AuditLog::ActorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for stmt in [
            index("idx_audit_log_at", &[AuditLog::At]),
            index("idx_audit_log_actor", &[AuditLog::ActorId]),
            index("idx_audit_log_action", &[AuditLog::Action]),
            index(
                "idx_audit_log_target",
                &[AuditLog::TargetKind, AuditLog::TargetId],
            ),
        ] {
            manager.create_index(stmt).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await?;
        for column in [
            Users::SuspensionReason,
            Users::SuspendedUntil,
            Users::SuspendedAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
