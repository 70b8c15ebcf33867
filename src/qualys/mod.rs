//! Qualys API client: QPS 3.0, the connectors gateway and CloudView v1 over one
//! transport. No Kubernetes types in here.
