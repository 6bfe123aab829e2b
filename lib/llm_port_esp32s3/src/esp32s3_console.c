/* Blocking line input on the ESP-IDF console (UART or USB-Serial-JTAG), for
 * the chat example and the test firmware. ESP-IDF only: Arduino has Serial. */
#if defined(ESP_PLATFORM) && !defined(ARDUINO)

#include <stdio.h>

#include "esp_idf_version.h"
#include "sdkconfig.h"

#include "llm_port_esp32s3.h"

#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
#include "driver/usb_serial_jtag.h"
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
#include "driver/usb_serial_jtag_vfs.h"
#define CONSOLE_USE_DRIVER() usb_serial_jtag_vfs_use_driver()
#define CONSOLE_RX_ENDINGS(m) usb_serial_jtag_vfs_set_rx_line_endings(m)
#else
#include "esp_vfs_usb_serial_jtag.h"
#define CONSOLE_USE_DRIVER() esp_vfs_usb_serial_jtag_use_driver()
#define CONSOLE_RX_ENDINGS(m) esp_vfs_dev_usb_serial_jtag_set_rx_line_endings(m)
#endif
#elif defined(CONFIG_ESP_CONSOLE_UART)
#include "driver/uart.h"
#if ESP_IDF_VERSION >= ESP_IDF_VERSION_VAL(5, 3, 0)
#include "driver/uart_vfs.h"
#define CONSOLE_USE_DRIVER() uart_vfs_dev_use_driver(CONFIG_ESP_CONSOLE_UART_NUM)
#define CONSOLE_RX_ENDINGS(m) uart_vfs_dev_port_set_rx_line_endings(CONFIG_ESP_CONSOLE_UART_NUM, m)
#else
#include "esp_vfs_dev.h"
#define CONSOLE_USE_DRIVER() esp_vfs_dev_uart_use_driver(CONFIG_ESP_CONSOLE_UART_NUM)
#define CONSOLE_RX_ENDINGS(m) esp_vfs_dev_uart_port_set_rx_line_endings(CONFIG_ESP_CONSOLE_UART_NUM, m)
#endif
#endif

/* Driver buffers: a 64 KB command line arrives faster than it is parsed. */
#define CONSOLE_RX_BUF 4096
#define CONSOLE_TX_BUF 4096

llm_status llm_esp32s3_console_init(void) {
    static int done;
    if (done) return LLM_OK;
    fflush(stdout);
    setvbuf(stdin, NULL, _IONBF, 0);
#if defined(CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG)
    usb_serial_jtag_driver_config_t cfg = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
    cfg.rx_buffer_size = CONSOLE_RX_BUF;
    cfg.tx_buffer_size = CONSOLE_TX_BUF;
    if (usb_serial_jtag_driver_install(&cfg) != ESP_OK) return LLM_ERR_ARG;
#elif defined(CONFIG_ESP_CONSOLE_UART)
    if (uart_driver_install((uart_port_t)CONFIG_ESP_CONSOLE_UART_NUM, CONSOLE_RX_BUF,
                            CONSOLE_TX_BUF, 0, NULL, 0) != ESP_OK)
        return LLM_ERR_ARG;
#else
    return LLM_ERR_ARG; /* no console configured */
#endif
    /* Terminals send CR, pytest-embedded LF: both end a line. */
    CONSOLE_RX_ENDINGS(ESP_LINE_ENDINGS_CR);
    CONSOLE_USE_DRIVER();
    done = 1;
    return LLM_OK;
}

#elif defined(ESP_PLATFORM)

#include "llm_port_esp32s3.h"

llm_status llm_esp32s3_console_init(void) {
    return LLM_ERR_ARG; /* Arduino: use Serial */
}

#else
typedef int llm_esp32s3_console_unused;
#endif
