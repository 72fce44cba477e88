use lunora_runtime::EventType;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Shipment {
    pub tracking_id: String,
}

/// Cloudflare refuses `.` in event types: caught at compile time.
pub const SHIPPED: EventType<Shipment> = EventType::new("shipment.created");

fn main() {
    let _ = SHIPPED;
}
