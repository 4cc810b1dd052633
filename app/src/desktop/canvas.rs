//! Drawing a decode worker's updates on a `<canvas>` the size of the desktop (CSS scales it).

use js_sys::{ArrayBuffer, Uint8ClampedArray};
use vigil_decode::Rect;
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData};

pub struct Canvas {
    el: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
}

impl Canvas {
    pub fn new(el: HtmlCanvasElement) -> Result<Canvas, String> {
        let ctx = el
            .get_context("2d")
            .map_err(|e| format!("{e:?}"))?
            .ok_or("this browser has no 2D canvas")?
            .dyn_into::<CanvasRenderingContext2d>()
            .map_err(|_| "unexpected canvas context".to_string())?;
        Ok(Canvas { el, ctx })
    }

    pub fn element(&self) -> &HtmlCanvasElement {
        &self.el
    }

    /// Sizes the canvas to the desktop (a no-op when unchanged: resizing clears it).
    pub fn resize(&self, width: u16, height: u16) {
        if self.el.width() != u32::from(width) || self.el.height() != u32::from(height) {
            self.el.set_width(u32::from(width));
            self.el.set_height(u32::from(height));
        }
    }

    /// Puts `rects` whose opaque RGBA pixels lie back to back in `pixels` from byte `at`.
    /// The pixels are viewed in place: they never enter wasm memory.
    pub fn draw(&self, rects: &[Rect], pixels: &ArrayBuffer, mut at: u32) {
        for r in rects {
            let len = u32::from(r.w) * u32::from(r.h) * 4;
            let view = Uint8ClampedArray::new_with_byte_offset_and_length(pixels, at, len);
            at += len;
            let Ok(img) = ImageData::new_with_js_u8_clamped_array_and_sh(
                &view,
                u32::from(r.w),
                u32::from(r.h),
            ) else {
                continue;
            };
            let _ = self
                .ctx
                .put_image_data(&img, f64::from(r.x), f64::from(r.y));
        }
    }
}
