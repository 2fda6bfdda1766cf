//! The tasks in the operator API's shape (`GET_TASKS`), pure.

use mesoraft_proto::mesos::v1::master::response::{self, GetTasks};
use mesoraft_proto::mesos::v1::master::Response;

use super::table::TasksView;

pub fn get_tasks(view: &TasksView) -> Response {
    Response {
        r#type: Some(response::Type::GetTasks as i32),
        get_tasks: Some(GetTasks {
            pending_tasks: Vec::new(),
            tasks: view.tasks.clone(),
            unreachable_tasks: view.unreachable_tasks.clone(),
            completed_tasks: view.completed_tasks.clone(),
        }),
        ..Response::default()
    }
}
